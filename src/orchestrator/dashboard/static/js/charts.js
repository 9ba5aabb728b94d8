// The brand page's charts, drawn with the vendored uPlot from the series that the server put
// in the region's data-charts attribute. Redrawn when the live region is swapped or the
// window is resized. Spikes are marked on the volume chart with focusable markers.
"use strict";

(function () {
  const plots = [];
  const utc = function (ts) {
    return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");
  };

  function spikePlugin(spikes) {
    return {
      hooks: {
        draw: [
          function (u) {
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = "#b3261e";
            ctx.lineWidth = 2 * devicePixelRatio;
            ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
            spikes.forEach(function (spike) {
              const x = u.valToPos(spike.at, "x", true);
              ctx.beginPath();
              ctx.moveTo(x, u.bbox.top);
              ctx.lineTo(x, u.bbox.top + u.bbox.height);
              ctx.stroke();
            });
            ctx.restore();
            placeMarkers(u, spikes);
          },
        ],
      },
    };
  }

  function placeMarkers(u, spikes) {
    u.over.querySelectorAll(".spike-marker").forEach(function (old) {
      old.remove();
    });
    spikes.forEach(function (spike) {
      const marker = document.createElement("span");
      marker.className = "spike-marker";
      marker.setAttribute("role", "img");
      marker.setAttribute("aria-label", spike.label);
      marker.title = spike.label;
      marker.tabIndex = 0;
      marker.textContent = "▲";
      marker.style.left = u.valToPos(spike.at, "x") + "px";
      u.over.appendChild(marker);
    });
  }

  function options(kind, width, data) {
    const common = {
      width: width,
      height: 220,
      tzDate: utc,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [{ stroke: "#3d3d3d" }, { stroke: "#3d3d3d" }],
    };
    if (kind === "volume") {
      common.series = [
        {},
        { label: "Mentions", stroke: "#1f5fa8", fill: "rgba(31,95,168,0.15)", width: 2 },
      ];
      common.plugins = [spikePlugin(data.spikes)];
    } else {
      common.series = [
        {},
        { label: "Net sentiment", stroke: "#6b3fa0", width: 2, spanGaps: true },
      ];
      common.scales.y = { range: [-1, 1] };
    }
    return common;
  }

  function series(kind, data) {
    if (kind === "volume") return [data.volume.x, data.volume.y];
    return [data.sentiment.x, data.sentiment.net];
  }

  function draw() {
    while (plots.length) plots.pop().destroy();
    document.querySelectorAll("[data-charts]").forEach(function (section) {
      const data = JSON.parse(section.dataset.charts);
      section.querySelectorAll("[data-chart]").forEach(function (el) {
        const kind = el.dataset.chart;
        el.textContent = "";
        const width = Math.max(240, el.clientWidth);
        plots.push(new uPlot(options(kind, width, data), series(kind, data), el));
      });
    });
  }

  let resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(draw, 150);
  });
  document.addEventListener("dashboard:swapped", function (event) {
    if (event.target.querySelector("[data-charts]")) draw();
  });
  draw();
})();
