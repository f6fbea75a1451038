// Draws every chart on the page from its JSON block, and lets a preview pair play in step.
"use strict";

function drawCharts() {
  for (const block of document.querySelectorAll('script[type="application/json"][data-chart]')) {
    const target = document.getElementById(block.dataset.chart);
    const figure = JSON.parse(block.textContent);
    Plotly.newPlot(target, figure.data, figure.layout, {responsive: true, displaylogo: false});
  }
}

function linkPreviews() {
  for (const box of document.querySelectorAll(".preview")) {
    const videos = box.querySelectorAll("video");
    const button = box.querySelector(".play-both");
    if (videos.length !== 2 || !button) continue;
    const [decoded, source] = videos;
    button.hidden = false;
    button.addEventListener("click", () => {
      for (const video of videos) { video.pause(); video.currentTime = 0; }
      Promise.all([decoded.play(), source.play()]).catch(() => {});
    });
    decoded.addEventListener("seeked", () => {
      if (Math.abs(source.currentTime - decoded.currentTime) > 0.05) source.currentTime = decoded.currentTime;
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  drawCharts();
  linkPreviews();
});
