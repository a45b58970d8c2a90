// The dashboard's realtime graph: polls /stats, plots jobs processed and failed per poll on a
// canvas, and refreshes the summary bar. The interval (2-20 s, default 5) is kept in
// localStorage.timeInterval, in milliseconds, as Faktory's dashboard keeps it.
(function () {
  "use strict";

  var canvas = document.getElementById("realtime");
  if (!canvas) { return; }
  var slider = document.getElementById("poll-interval");
  var shown = document.getElementById("poll-interval-value");
  var statsUrl = canvas.getAttribute("data-stats-url");
  var POINTS = 60;
  var processed = [];
  var failed = [];
  var last = null;
  var timer = null;

  function interval() {
    var stored = parseInt(window.localStorage.getItem("timeInterval"), 10);
    if (isNaN(stored)) { return 5000; }
    return Math.min(Math.max(stored, 2000), 20000);
  }

  function setText(id, value) {
    var node = document.getElementById(id);
    if (node) { node.textContent = Number(value).toLocaleString("en-US"); }
  }

  function push(series, value) {
    series.push(value);
    if (series.length > POINTS) { series.shift(); }
  }

  function colour(name) {
    return window.getComputedStyle(canvas).getPropertyValue(name).trim() || "#888";
  }

  function line(ctx, series, peak, stroke) {
    var step = canvas.width / (POINTS - 1);
    var offset = POINTS - series.length;
    ctx.strokeStyle = stroke;
    ctx.lineWidth = 2;
    ctx.beginPath();
    series.forEach(function (value, i) {
      var x = (offset + i) * step;
      var y = canvas.height - 4 - (value / peak) * (canvas.height - 12);
      if (i === 0) { ctx.moveTo(x, y); } else { ctx.lineTo(x, y); }
    });
    ctx.stroke();
  }

  function draw() {
    var ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = colour("--grid");
    ctx.lineWidth = 1;
    for (var row = 1; row < 4; row++) {
      var y = Math.round((canvas.height * row) / 4) + 0.5;
      ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(canvas.width, y); ctx.stroke();
    }
    var peak = Math.max(1, Math.max.apply(null, processed.concat(failed)));
    line(ctx, processed, peak, colour("--processed"));
    line(ctx, failed, peak, colour("--failed"));
  }

  function update(stats) {
    var f = stats.faktory;
    var now = { processed: f.total_processed, failed: f.total_failures };
    var base = last === null ? now : last;  // the first poll is the graph's zero
    push(processed, Math.max(0, now.processed - base.processed));
    push(failed, Math.max(0, now.failed - base.failed));
    setText("rt-processed", processed[processed.length - 1]);
    setText("rt-failed", failed[failed.length - 1]);
    last = now;
    setText("summary-processed", f.total_processed);
    setText("summary-failures", f.total_failures);
    setText("summary-busy", f.tasks.Busy.size);
    setText("summary-enqueued", f.total_enqueued);
    setText("summary-retries", f.sets.retries);
    setText("summary-scheduled", f.sets.scheduled);
    setText("summary-dead", f.sets.dead);
    var status = document.getElementById("status");
    if (status) {
      var active = f.tasks.Busy.size > 0 ? "active" : "idle";
      status.textContent = active;
      status.className = "status status-" + active;
    }
    var clock = document.getElementById("server-utc-time");
    if (clock) { clock.textContent = stats.server_utc_time; }
    setText("connections", stats.server.connections);
    setText("commands", stats.server.command_count);
    canvas.setAttribute("data-polls", String(parseInt(canvas.getAttribute("data-polls"), 10) + 1));
    draw();
  }

  function poll() {
    fetch(statsUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (stats) { if (stats) { update(stats); } })
      .catch(function () { /* the server may be restarting: try again next time */ })
      .then(schedule);
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, interval());
  }

  slider.value = String(interval() / 1000);
  shown.textContent = slider.value;
  slider.addEventListener("input", function () {
    shown.textContent = slider.value;
    window.localStorage.setItem("timeInterval", String(parseInt(slider.value, 10) * 1000));
    schedule();
  });

  draw();
  poll();
})();
