"""An interactive 3-D surface view: one self-contained HTML page drawn with WebGL.

:func:`show_surface` renders one layer of a laminar mesh with per-vertex
values (the colour mapping of :func:`~laminarray.viz.plot_surface`) as a
page that rotates with the mouse, zooms with the wheel and jumps to the named
views. Everything is inline (geometry as base64 arrays, a few hundred lines
of plain WebGL, no library, no network), so the page works offline, in a
browser (:meth:`SurfaceView.show`, :meth:`SurfaceView.save`) and in a
notebook (``_repr_html_`` embeds it in an ``iframe``).
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
import uuid
import webbrowser
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from matplotlib import colors as mcolors

from .surface import (
    VIEWS,
    _camera,
    _face_normals,
    _views,
    anatomy_grey,
    colour_label,
    surface_geometry,
    value_colours,
)

#: Colour-bar stops sampled from the colour map.
_BAR_STOPS = 32


@dataclass(frozen=True)
class SurfaceView:
    """A rendered interactive surface: a complete HTML page.

    Attributes
    ----------
    html : str
        The page (open it in a browser, or display the object in a notebook).
    """

    html: str

    def _repr_html_(self) -> str:
        """Notebook display: the page in a sandboxed ``iframe`` (scripts run in any frontend)."""
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
            'style="width: 100%; height: 540px; border: none" '
            'sandbox="allow-scripts"></iframe>'
        )

    def save(self, path: str | Path) -> Path:
        """Write the page to ``path`` (``.html``); return the path."""
        path = Path(path)
        path.write_text(self.html, encoding="utf-8")
        return path

    def show(self) -> Path:
        """Open the page in the default web browser (from a temporary file); return its path."""
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115  (the browser reads it later)
            "w", suffix=".html", prefix="laminarray-surface-", delete=False, encoding="utf-8"
        )
        with handle:
            handle.write(self.html)
        webbrowser.open(Path(handle.name).as_uri())
        return Path(handle.name)


def show_surface(
    mesh: xr.Dataset,
    values: Any = None,
    layer: str = "pial",
    view: str | None = None,
    hemi: str | None = None,
    *,
    cmap: str | None = None,
    norm: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    vcenter: float = 0.0,
    n_bins: int = 1000,
    threshold: float | None = None,
    focus: Any = None,
    curvature: bool = True,
    title: str | None = None,
    save_to: str | Path | None = None,
) -> SurfaceView:
    """Interactive 3-D view of one layer with per-vertex values (laMEG's ``show_surface``).

    Drag to rotate, scroll to zoom, buttons for the named views. The colours
    are those of :func:`~laminarray.viz.plot_surface` with the same
    arguments (robust limits, diverging or sequential map, threshold).

    Parameters
    ----------
    mesh : xarray.Dataset
        A laminar mesh (``vertices (layer, vertex, xyz)`` mm, ``faces``).
    values : array or DataArray, shape (vertex,) or (layer, vertex), optional
        Per-vertex values; NaN (or below ``threshold``) shows the anatomy.
    layer : str
        Layer to draw.
    view : str, optional
        Initial view, one of ``lateral, medial, dorsal, ventral, anterior,
        posterior``; default the view facing ``focus``.
    hemi : {"lh", "rh"}, optional
        One hemisphere only.
    cmap, norm, vmin, vmax, vcenter, n_bins, threshold, focus, curvature
        As :func:`~laminarray.viz.plot_surface`.
    title : str, optional
        Page title (default the layer and the values' name).
    save_to : str or path-like, optional
        Also write the page to this ``.html`` file.

    Returns
    -------
    SurfaceView
        ``.html`` (the page), ``.save(path)``, ``.show()`` (opens a browser)
        and notebook display.

    Examples
    --------
    >>> view = show_surface(mesh, t_map, threshold=3.0)  # doctest: +SKIP
    >>> view.show()  # doctest: +SKIP
    """
    points, faces, data = surface_geometry(mesh, values, layer, hemi)
    grey = anatomy_grey(points, faces, curvature)
    rgb = np.repeat(grey[:, None], 3, axis=1)
    bar = None
    if data is not None:
        data, rgba, mappable = value_colours(
            data, cmap, norm, vmin, vmax, vcenter, n_bins, threshold
        )
        drawn = np.isfinite(data)
        rgb[drawn] = rgba[drawn, :3]
        bar = _colour_bar(mappable, colour_label(values))
    initial = _views(view, points, faces, data, focus, hemi)[0]
    used = np.unique(faces)
    centre = (points[used].min(0) + points[used].max(0)) / 2 if used.size else np.zeros(3)
    scene = {
        "positions": _b64(points - centre, np.float32),
        "normals": _b64(_vertex_normals(points, faces), np.float32),
        "colours": _b64(np.round(rgb * 255), np.uint8),
        "indices": _b64(faces, np.uint32),
        "n_vertices": int(points.shape[0]),
        "n_faces": int(faces.shape[0]),
        "radius": float(np.linalg.norm(points[used] - centre, axis=1).max()) if used.size else 1.0,
        "views": {name: _camera(name, hemi) for name in VIEWS},
        "initial": initial,
        "bar": bar,
    }
    if title is None:
        name = colour_label(values).split(" (")[0] if data is not None else "anatomy"
        title = f"{layer}: {name}" + (f" ({hemi})" if hemi else "")
    page = _PAGE.replace("__TITLE__", html.escape(title)).replace("__ID__", uuid.uuid4().hex)
    page = page.replace("__SCENE__", json.dumps(scene).replace("</", "<\\/"))
    result = SurfaceView(page)
    if save_to is not None:
        result.save(save_to)
    return result


def _b64(array: np.ndarray, dtype: Any) -> str:
    """Little-endian bytes of ``array`` as ``dtype``, base64 (JavaScript typed arrays read them)."""
    return base64.b64encode(
        np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
    ).decode("ascii")


def _vertex_normals(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (unit; zero for vertices of no face)."""
    normals = np.zeros_like(points)
    face_normals = _face_normals(points, faces) * _face_areas(points, faces)[:, None]
    for corner in range(3):
        np.add.at(normals, faces[:, corner], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


def _face_areas(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    edges = np.cross(
        points[faces[:, 1]] - points[faces[:, 0]], points[faces[:, 2]] - points[faces[:, 0]]
    )
    return 0.5 * np.linalg.norm(edges, axis=1)


def _colour_bar(mappable: Any, label: str) -> dict[str, Any]:
    """Colour-bar description for the page: gradient stops and labelled limits."""
    norm = mappable.norm
    lo, hi = float(norm.vmin), float(norm.vmax)
    fractions = np.linspace(0.0, 1.0, _BAR_STOPS)
    stops = norm.inverse(fractions) if hasattr(norm, "inverse") else lo + fractions * (hi - lo)
    colours = mappable.cmap(norm(np.asarray(stops, dtype=np.float64)))
    ticks = [lo, hi]
    vcenter = getattr(norm, "vcenter", None)
    if vcenter is not None:
        ticks.insert(1, float(vcenter))
    return {
        "stops": [mcolors.to_hex(rgba[:3]) for rgba in colours],
        "ticks": [{"value": f"{t:.3g}", "at": float(norm(t))} for t in ticks],
        "label": label,
        "vmin": lo,
        "vmax": hi,
    }


_PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
  body { margin: 0; font: 13px sans-serif; background: #fff; color: #222; }
  #v__ID__ { display: flex; flex-direction: column; height: 100vh; min-height: 420px; }
  #v__ID__ .bar { display: flex; gap: 4px; align-items: center; padding: 6px; flex-wrap: wrap; }
  #v__ID__ button { font: inherit; padding: 2px 8px; }
  #v__ID__ .main { flex: 1; display: flex; min-height: 0; }
  #v__ID__ canvas { flex: 1; min-width: 0; cursor: grab; }
  #v__ID__ .legend { width: 90px; display: flex; flex-direction: column; align-items: center; padding: 12px 4px; }
  #v__ID__ .ramp { position: relative; width: 18px; flex: 1; border: 1px solid #888; }
  #v__ID__ .tick { position: absolute; left: 22px; transform: translateY(50%); white-space: nowrap; }
  #v__ID__ .unit { writing-mode: vertical-rl; transform: rotate(180deg); margin-top: 8px; }
</style>
</head>
<body>
<div id="v__ID__" class="laminarray-surface">
  <div class="bar"><strong>__TITLE__</strong>&nbsp;<span class="views"></span>
    <span class="hint">drag: rotate &middot; wheel: zoom &middot; double-click: reset</span></div>
  <div class="main"><canvas></canvas><div class="legend"></div></div>
</div>
<script>
(function () {
  "use strict";
  const scene = __SCENE__;
  const root = document.getElementById("v__ID__");
  const canvas = root.querySelector("canvas");
  root.dataset.status = "loading";
  const gl = canvas.getContext("webgl", {preserveDrawingBuffer: true, antialias: true});
  if (!gl) {
    root.dataset.status = "no-webgl";
    root.querySelector(".main").textContent = "This browser cannot draw WebGL.";
    return;
  }
  function decode(text, Type) {
    const raw = atob(text), bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return new Type(bytes.buffer);
  }
  const positions = decode(scene.positions, Float32Array);
  const normals = decode(scene.normals, Float32Array);
  const colours = decode(scene.colours, Uint8Array);
  let indices = decode(scene.indices, Uint32Array), indexType = gl.UNSIGNED_INT;
  if (!gl.getExtension("OES_element_index_uint")) {
    if (scene.n_vertices > 65535) { root.dataset.status = "too-many-vertices"; return; }
    indices = Uint16Array.from(indices); indexType = gl.UNSIGNED_SHORT;
  }
  function shader(type, source) {
    const s = gl.createShader(type);
    gl.shaderSource(s, source); gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    return s;
  }
  const program = gl.createProgram();
  gl.attachShader(program, shader(gl.VERTEX_SHADER,
    "attribute vec3 p; attribute vec3 n; attribute vec3 c; uniform mat4 m; uniform mat3 r;" +
    "varying vec3 vc; varying vec3 vn;" +
    "void main() { gl_Position = m * vec4(p, 1.0); vn = r * n; vc = c; }"));
  gl.attachShader(program, shader(gl.FRAGMENT_SHADER,
    "precision mediump float; varying vec3 vc; varying vec3 vn;" +
    "void main() { float l = abs(normalize(vn).z); gl_FragColor = vec4(vc * (0.35 + 0.65 * l), 1.0); }"));
  gl.linkProgram(program);
  gl.useProgram(program);
  function attribute(name, data, size, type, normalise) {
    const buffer = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
    const at = gl.getAttribLocation(program, name);
    gl.enableVertexAttribArray(at);
    gl.vertexAttribPointer(at, size, type, normalise, 0, 0);
  }
  attribute("p", positions, 3, gl.FLOAT, false);
  attribute("n", normals, 3, gl.FLOAT, false);
  attribute("c", colours, 3, gl.UNSIGNED_BYTE, true);
  gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, gl.createBuffer());
  gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, indices, gl.STATIC_DRAW);
  gl.enable(gl.DEPTH_TEST);
  const uM = gl.getUniformLocation(program, "m"), uR = gl.getUniformLocation(program, "r");

  // rotation: rows are the screen's right, up and towards-viewer axes in RAS mm
  let rotation, zoom = 1.0;
  function cross(a, b) { return [a[1]*b[2]-a[2]*b[1], a[2]*b[0]-a[0]*b[2], a[0]*b[1]-a[1]*b[0]]; }
  function unit(a) { const l = Math.hypot(a[0], a[1], a[2]); return [a[0]/l, a[1]/l, a[2]/l]; }
  function setView(name) {
    const [elev, azim] = scene.views[name].map(function (d) { return d * Math.PI / 180; });
    const towards = [Math.cos(elev)*Math.cos(azim), Math.cos(elev)*Math.sin(azim), Math.sin(elev)];
    const up = Math.abs(towards[2]) > 0.99 ? [0, 1, 0] : [0, 0, 1];
    const right = unit(cross(up, towards));
    rotation = [right, cross(towards, right), towards];
    zoom = 1.0;
    root.dataset.view = name;
    draw();
  }
  function turn(axis, angle) {  // rotate the scene about a screen axis
    const c = Math.cos(angle), s = Math.sin(angle), [a, b] = axis === "x" ? [1, 2] : [0, 2];
    const ra = rotation[a], rb = rotation[b];
    rotation[a] = ra.map(function (v, i) { return c * v - s * rb[i]; });
    rotation[b] = rb.map(function (v, i) { return s * ra[i] + c * v; });
  }
  function draw() {
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.clearColor(1, 1, 1, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    const s = 0.95 * zoom / scene.radius, aspect = canvas.width / Math.max(canvas.height, 1);
    const sx = aspect > 1 ? s / aspect : s, sy = aspect > 1 ? s : s * aspect, sz = -1 / (1.01 * scene.radius);
    const [x, y, z] = rotation;
    gl.uniformMatrix4fv(uM, false, new Float32Array([
      sx*x[0], sy*y[0], sz*z[0], 0, sx*x[1], sy*y[1], sz*z[1], 0, sx*x[2], sy*y[2], sz*z[2], 0, 0, 0, 0, 1]));
    gl.uniformMatrix3fv(uR, false, new Float32Array([x[0], y[0], z[0], x[1], y[1], z[1], x[2], y[2], z[2]]));
    gl.drawElements(gl.TRIANGLES, indices.length, indexType, 0);
  }
  // named views
  const buttons = root.querySelector(".views");
  Object.keys(scene.views).forEach(function (name) {
    const b = document.createElement("button");
    b.textContent = name; b.onclick = function () { setView(name); };
    buttons.appendChild(b);
  });
  // mouse
  let last = null;
  canvas.addEventListener("pointerdown", function (e) { last = [e.clientX, e.clientY]; canvas.setPointerCapture(e.pointerId); });
  canvas.addEventListener("pointerup", function () { last = null; });
  canvas.addEventListener("pointermove", function (e) {
    if (!last) return;
    turn("y", (e.clientX - last[0]) * 0.01); turn("x", (e.clientY - last[1]) * 0.01);
    last = [e.clientX, e.clientY]; draw();
  });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault(); zoom = Math.min(20, Math.max(0.2, zoom * Math.exp(-e.deltaY * 0.001))); draw();
  }, {passive: false});
  canvas.addEventListener("dblclick", function () { setView(scene.initial); });
  window.addEventListener("resize", draw);
  // colour bar
  const legend = root.querySelector(".legend");
  if (scene.bar) {
    const ramp = document.createElement("div");
    ramp.className = "ramp";
    ramp.style.background = "linear-gradient(to top, " + scene.bar.stops.join(", ") + ")";
    scene.bar.ticks.forEach(function (t) {
      const tick = document.createElement("span");
      tick.className = "tick"; tick.textContent = t.value; tick.style.bottom = (100 * t.at) + "%";
      ramp.appendChild(tick);
    });
    const unit = document.createElement("div");
    unit.className = "unit"; unit.textContent = scene.bar.label;
    legend.appendChild(ramp); legend.appendChild(unit);
  } else {
    legend.remove();
  }
  setView(scene.initial);
  // what was drawn, for tests and for the curious: pixels not background, pixels not grey
  const pixels = new Uint8Array(canvas.width * canvas.height * 4);
  gl.readPixels(0, 0, canvas.width, canvas.height, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
  let drawn = 0, coloured = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    const r = pixels[i], g = pixels[i + 1], b = pixels[i + 2];
    if (r < 250 || g < 250 || b < 250) drawn++;
    if (Math.max(r, g, b) - Math.min(r, g, b) > 24) coloured++;
  }
  root.dataset.drawnPixels = drawn;
  root.dataset.colouredPixels = coloured;
  root.dataset.status = gl.getError() === gl.NO_ERROR ? "rendered" : "gl-error";
})();
</script>
</body>
</html>
"""
