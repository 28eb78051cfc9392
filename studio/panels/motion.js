// The path editor (studio/panels/motion.py): `props.value` is the shot's state as JSON (its motion, the canvas,
// the palette); every finished edit is sent back with trigger('input', {motion}) and saved by the studio.
// Positions move as engine/layout/direct.py moves them (length travelled in screen units, eased), so the boxes
// that play here are the animatic of what renders.
const NS = 'http://www.w3.org/2000/svg';
let S = null, sel = {o: 0, p: 0}, drag = null, pending = false, svg = null, started = performance.now();

function ease(u, e) {
  u = Math.min(1, Math.max(0, u));
  if (e === 'ease-in') return u * u;
  if (e === 'ease-out') return 1 - (1 - u) * (1 - u);
  if (e === 'ease-in-out') return u * u * (3 - 2 * u);
  return u;
}
function sizeOf(o, p) { return p.length > 2 ? p[2] : S.sizes[o.size]; }
function along(o, share) {
  const pts = o.points, cum = [0];
  for (let k = 1; k < pts.length; k++) cum.push(cum[k - 1] + Math.hypot(pts[k][0] - pts[k - 1][0], pts[k][1] - pts[k - 1][1]));
  const total = cum[cum.length - 1];
  const c = total < 1e-9 ? pts.map((_, k) => k) : cum;
  const s = share * c[c.length - 1];
  for (let k = 1; k < pts.length; k++) {
    if (s <= c[k] || k === pts.length - 1) {
      const span = c[k] - c[k - 1], u = span > 0 ? Math.min(1, Math.max(0, (s - c[k - 1]) / span)) : 0;
      const a = pts[k - 1], b = pts[k];
      return [a[0] + u * (b[0] - a[0]), a[1] + u * (b[1] - a[1]), sizeOf(o, a) + u * (sizeOf(o, b) - sizeOf(o, a))];
    }
  }
  return [pts[0][0], pts[0][1], sizeOf(o, pts[0])];
}
function at(o, t) {
  const span = Math.max(1e-6, o.end - o.start);
  return along(o, ease((t - o.start) / span, o.easing));
}
function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function say(text) { const m = element.querySelector('.motion-note'); if (m) m.textContent = text; }
function send() {
  trigger('input', {motion: JSON.stringify(S.motion)});
  if (!S.directed) { S.directed = true; S.note = S.directed_note; say(S.note); }
}
function unit(e) {
  const pt = svg.createSVGPoint(); pt.x = e.clientX; pt.y = e.clientY;
  const p = pt.matrixTransform(svg.getScreenCTM().inverse());
  return [Math.min(1, Math.max(0, p.x / S.width)), Math.min(1, Math.max(0, p.y / S.height))];
}
function round(v) { return Math.round(v * 1000) / 1000; }

function toolbar(root) {
  const bar = document.createElement('div');
  bar.className = 'motion-bar';
  const objs = S.motion.objects;
  objs.forEach((o, i) => {
    const b = document.createElement('button');
    b.type = 'button'; b.className = 'motion-obj' + (i === sel.o ? ' sel' : '');
    b.dataset.o = i; b.textContent = `${o.size} ${o.colour} ${o.shape}`;
    b.style.borderColor = S.colours[o.colour];
    b.onclick = () => { sel = {o: i, p: 0}; draw(); };
    bar.appendChild(b);
  });
  const o = objs[sel.o];
  const field = (label, cls, input) => {
    const l = document.createElement('label'); l.className = cls; l.textContent = label + ' '; l.appendChild(input);
    bar.appendChild(l); return input;
  };
  const num = (v) => { const i = document.createElement('input'); i.type = 'number'; i.step = '0.1'; i.min = '0';
    i.max = String(S.seconds); i.value = String(v); return i; };
  const pick = (opts, v) => { const s = document.createElement('select');
    opts.forEach((x) => { const op = document.createElement('option'); op.value = x; op.textContent = x.replace('_', ' ');
      if (x === v) op.selected = true; s.appendChild(op); }); return s; };
  const start = field('starts (s)', 'motion-start', num(o.start));
  const end = field('stops (s)', 'motion-end', num(o.end));
  const easing = field('easing', 'motion-easing', pick(S.easings, o.easing || 'linear'));
  const camera = field('camera', 'motion-camera', pick(S.cameras, S.motion.camera || 'static'));
  start.onchange = () => { o.start = Number(start.value); send(); };
  end.onchange = () => { o.end = Number(end.value); send(); };
  easing.onchange = () => { o.easing = easing.value; send(); };
  camera.onchange = () => { S.motion.camera = camera.value; send(); };
  const add = document.createElement('button'); add.type = 'button'; add.className = 'motion-add';
  add.textContent = 'Add waypoint'; add.onclick = () => addPoint(sel.o, null); bar.appendChild(add);
  const del = document.createElement('button'); del.type = 'button'; del.className = 'motion-del';
  del.textContent = 'Remove point'; del.onclick = () => removePoint(); bar.appendChild(del);
  root.appendChild(bar);
}

function addPoint(oi, pos) {
  // At `pos` (on the nearest leg), or halfway along the longest leg of the object's path.
  const pts = S.motion.objects[oi].points;
  let best = 0, score = pos ? Infinity : -1;
  for (let k = 1; k < pts.length; k++) {
    const a = pts[k - 1], b = pts[k];
    if (pos) {
      const dx = b[0] - a[0], dy = b[1] - a[1], n = dx * dx + dy * dy;
      const u = n > 0 ? Math.min(1, Math.max(0, ((pos[0] - a[0]) * dx + (pos[1] - a[1]) * dy) / n)) : 0;
      const d = Math.hypot(a[0] + u * dx - pos[0], a[1] + u * dy - pos[1]);
      if (d < score) { score = d; best = k; }
    } else {
      const d = Math.hypot(b[0] - a[0], b[1] - a[1]);
      if (d > score) { score = d; best = k; }
    }
  }
  const a = pts[best - 1], b = pts[best];
  const p = pos ? [round(pos[0]), round(pos[1])] : [round((a[0] + b[0]) / 2), round((a[1] + b[1]) / 2)];
  if (a.length > 2 || b.length > 2) p.push(round((sizeOf(S.motion.objects[oi], a) + sizeOf(S.motion.objects[oi], b)) / 2));
  pts.splice(best, 0, p);
  sel = {o: oi, p: best};
  draw(); send(); focusSel();
}

function removePoint() {
  const pts = S.motion.objects[sel.o].points;
  if (pts.length <= 2) { say('A path needs at least two points, where it starts and where it ends.'); return; }
  pts.splice(sel.p, 1);
  sel.p = Math.min(sel.p, pts.length - 1);
  draw(); send(); focusSel();
}

function draw() {
  const root = element.querySelector('.motion-editor') || element;
  root.innerHTML = '';
  const note = document.createElement('p'); note.className = 'motion-note'; root.appendChild(note);
  if (!S || !S.motion) { svg = null; note.textContent = S && S.note ? S.note : ''; return; }
  note.textContent = S.note || '';
  sel.o = Math.min(sel.o, S.motion.objects.length - 1);
  sel.p = Math.min(sel.p, S.motion.objects[sel.o].points.length - 1);
  toolbar(root);
  const W = S.width, H = S.height, short = Math.min(W, H), r = short * 0.035;
  svg = el('svg', {viewBox: `0 0 ${W} ${H}`, class: 'motion-canvas', role: 'application',
                   'aria-label': 'paths of the shot\'s objects; Tab to a point, arrows move it, Delete removes it'});
  svg.style.maxWidth = `${Math.round(420 * W / H)}px`;  // at most 420 px high, the canvas's own shape
  root.appendChild(svg);
  el('rect', {x: 0, y: 0, width: W, height: H, fill: S.backdrops[S.motion.background] || '#7f7f7f'}, svg);
  if (S.motion.pillar) el('rect', {x: W * (0.5 - S.wall / 2), y: 0, width: W * S.wall, height: H, fill: '#505050'}, svg);
  S.motion.objects.forEach((o, i) => {
    const c = S.colours[o.colour];
    el('polyline', {points: o.points.map((p) => `${p[0] * W},${p[1] * H}`).join(' '), fill: 'none', stroke: c,
                    'stroke-width': short * 0.012, 'stroke-dasharray': i === sel.o ? '' : `${r} ${r / 2}`,
                    class: 'motion-path', 'data-o': i}, svg);
    el('rect', {class: 'motion-box', 'data-o': i, fill: c, 'fill-opacity': 0.45, stroke: c,
                'stroke-width': short * 0.01}, svg);
    o.points.forEach((p, k) => {
      const last = k === o.points.length - 1;
      const h = el('circle', {cx: p[0] * W, cy: p[1] * H, r: k === 0 || last ? r * 1.2 : r, fill: k === 0 ? '#fff' : c,
                              stroke: i === sel.o && k === sel.p ? '#101828' : c, 'stroke-width': short * 0.012,
                              class: 'motion-handle', 'data-o': i, 'data-p': k, tabindex: 0,
                              'aria-label': `${o.colour} ${o.shape}: ${k === 0 ? 'start' : last ? 'end' : 'waypoint ' + k}`},
                   svg);
      h.addEventListener('focus', () => { sel = {o: i, p: k}; });
    });
  });
  svg.addEventListener('pointerdown', (e) => {
    const h = e.target.closest('.motion-handle');
    if (!h) return;
    e.preventDefault();
    sel = {o: Number(h.dataset.o), p: Number(h.dataset.p)};
    drag = {o: sel.o, p: sel.p, moved: false};
    svg.setPointerCapture(e.pointerId);
  });
  svg.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const [x, y] = unit(e), pts = S.motion.objects[drag.o].points;
    pts[drag.p][0] = round(x); pts[drag.p][1] = round(y); drag.moved = true;
    place();
  });
  const finish = () => {
    if (!drag) return;
    const moved = drag.moved; drag = null;
    if (pending) load(); else draw();
    if (moved) send();
  };
  svg.addEventListener('pointerup', finish);
  svg.addEventListener('pointercancel', finish);
  svg.addEventListener('dblclick', (e) => { if (!e.target.closest('.motion-handle')) addPoint(sel.o, unit(e)); });
  svg.addEventListener('keydown', (e) => {
    const h = e.target.closest('.motion-handle');
    if (!h) return;
    const step = e.shiftKey ? 0.05 : 0.01, moves = {ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step],
                                                      ArrowDown: [0, step]};
    if (moves[e.key]) {
      e.preventDefault();
      const p = S.motion.objects[sel.o].points[sel.p];
      p[0] = round(Math.min(1, Math.max(0, p[0] + moves[e.key][0])));
      p[1] = round(Math.min(1, Math.max(0, p[1] + moves[e.key][1])));
      place();
    } else if (e.key === 'Delete' || e.key === 'Backspace') {
      e.preventDefault(); removePoint();
    }
  });
  svg.addEventListener('keyup', (e) => { if (e.key.startsWith('Arrow')) send(); });
  place();
}

function place() {
  // Handles and paths where the points are now (during a drag nothing is rebuilt).
  if (!svg) return;
  const W = S.width, H = S.height;
  svg.querySelectorAll('.motion-handle').forEach((h) => {
    const p = S.motion.objects[h.dataset.o].points[h.dataset.p];
    if (p) { h.setAttribute('cx', p[0] * W); h.setAttribute('cy', p[1] * H); }
  });
  svg.querySelectorAll('.motion-path').forEach((l) => {
    l.setAttribute('points', S.motion.objects[l.dataset.o].points.map((p) => `${p[0] * W},${p[1] * H}`).join(' '));
  });
}

function play(now) {
  // The live animatic: each object's box where it is at this moment of the shot (looping, half a second's rest).
  if (svg && S && S.motion && element.isConnected) {
    const t = ((now - started) / 1000) % (S.seconds + 0.5);
    const W = S.width, H = S.height, short = Math.min(W, H);
    svg.querySelectorAll('.motion-box').forEach((b) => {
      const [x, y, s] = at(S.motion.objects[b.dataset.o], Math.min(t, S.seconds));
      b.setAttribute('x', x * W - s * short / 2); b.setAttribute('y', y * H - s * short / 2);
      b.setAttribute('width', s * short); b.setAttribute('height', s * short);
      b.dataset.t = t.toFixed(2);
    });
  }
  requestAnimationFrame(play);
}

function load() {
  // The studio's state for the shot (a new one after every save or refusal); not while a point is held.
  if (drag) { pending = true; return; }
  pending = false;
  const focused = svg && svg.contains(document.activeElement);
  try { S = JSON.parse(props.value || 'null'); } catch (e) { S = null; }
  draw();
  if (focused) focusSel();
}

function focusSel() {
  const h = element.querySelector(`circle.motion-handle[data-o="${sel.o}"][data-p="${sel.p}"]`);
  if (h) h.focus();
}

watch('value', load);
load();
requestAnimationFrame(play);
