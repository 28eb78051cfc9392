// The timeline as a track (studio/panels/timeline.py, studio/cut.py): `props.value` is the cut as JSON (clips in
// the cut's frames at the delivery rate, so the track is the export to the frame). A drag is sent back with
// trigger('input', {act, entry, ...}) and the studio answers with the new cut: move (drop a clip where it
// goes), trim (drag an edge; sent in the take's own frames), fade (drag the dot at a clip's top left).
// Clips with sound show their waveform along their foot; each audio track (S.audio, seconds) is a lane of its
// own under the clips, dragged to move it (audio_move) or by an edge to trim it (audio_trim).
let S = null, drag = null, head = 0;
const MIN_PX = 24;  // the narrowest a clip is drawn, so a short one can still be grabbed

function tc(frames) {
  const n = Math.max(1, Math.round(S.fps)), ff = frames % n, s = Math.floor(frames / n);
  const p = (v) => String(v).padStart(2, '0');
  return `${p(Math.floor(s / 3600))}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}:${p(ff)}`;
}
function pxf() { return Math.max(0.5, Math.min(12, (lane().clientWidth - 8) / Math.max(1, S.frames))); }
function lane() { return element.querySelector('.tl-lane'); }
function send(data) { trigger('input', data); }

function draw() {
  const root = element.querySelector('.tl-root') || element;
  root.innerHTML = '';
  if (!S || !S.clips || !S.clips.length) {
    root.innerHTML = "<p class='tl-empty'>The timeline is empty: press Use on timeline on a take in the storyboard.</p>";
    return;
  }
  const ruler = document.createElement('div'); ruler.className = 'tl-ruler';
  const ln = document.createElement('div'); ln.className = 'tl-lane';
  const ph = document.createElement('div'); ph.className = 'tl-playhead';
  const read = document.createElement('div'); read.className = 'tl-readout';
  root.append(ruler, ln, read);
  ln.appendChild(ph);
  const k = pxf();
  const step = Math.max(1, Math.round(S.fps)) * Math.max(1, Math.ceil(60 / (k * S.fps)));  // a tick every >= 60 px
  for (let f = 0; f <= S.frames; f += step) {
    const t = document.createElement('span'); t.className = 'tl-tick'; t.style.left = `${f * k}px`;
    t.textContent = tc(f).slice(3); ruler.appendChild(t);
  }
  S.clips.forEach((c, i) => {
    const d = document.createElement('div');
    d.className = 'tl-clip'; d.dataset.i = i; d.dataset.entry = c.entry; d.tabIndex = 0;
    d.title = `${c.name} · starts ${tc(c.first)} · plays ${tc(c.frames)} · trims ${c.trim_in} / ${c.trim_out}` +
              ` · speed ${c.speed}`;
    const fadePx = c.fade_seconds * S.fps * k;
    d.style.left = `${c.first * k}px`;
    d.style.width = `${Math.max(MIN_PX, c.frames * k)}px`;
    if (c.thumb) d.style.backgroundImage = `url('${c.thumb}')`;
    d.innerHTML = (c.wave ? `<span class='tl-wave' style="background-image:url('${c.wave}');` +
                   `background-size:${c.take_frames / c.take_fps * S.fps * k}px 100%;` +
                   `background-position:${-c.trim_in / c.take_fps * S.fps * k}px 0"></span>` : '') +
      `<span class='tl-name'>${c.name.replace(/</g, '&lt;')}${c.speed && c.speed !== '1x' ? ' · ' + c.speed : ''}</span>` +
      `<span class='tl-edge tl-in' data-edge='in'></span><span class='tl-edge tl-out' data-edge='out'></span>` +
      (i > 0 ? `<span class='tl-fade' style='width:${fadePx}px'></span><span class='tl-fade-dot' ` +
               `style='left:${fadePx}px' title='drag right to crossfade into this clip'></span>` : '');
    ln.appendChild(d);
  });
  ruler.addEventListener('pointerdown', (e) => setHead(e));
  ln.addEventListener('pointerdown', (e) => {
    const c = e.target.closest('.tl-clip');
    if (!c) { setHead(e); return; }
    e.preventDefault();
    const i = Number(c.dataset.i);
    const kind = e.target.classList.contains('tl-fade-dot') ? 'fade' : e.target.dataset.edge ? e.target.dataset.edge : 'move';
    drag = {i, kind, x0: e.clientX, el: c, left: c.offsetLeft, width: c.offsetWidth, dx: 0};
    ln.setPointerCapture(e.pointerId);
  });
  ln.addEventListener('pointermove', (e) => {
    if (!drag) return;
    drag.dx = e.clientX - drag.x0;
    const el = drag.el;
    if (drag.kind === 'move') { el.style.left = `${drag.left + drag.dx}px`; el.classList.add('dragging'); }
    if (drag.kind === 'in') { el.style.left = `${drag.left + drag.dx}px`; el.style.width = `${Math.max(MIN_PX, drag.width - drag.dx)}px`; }
    if (drag.kind === 'out') el.style.width = `${Math.max(MIN_PX, drag.width + drag.dx)}px`;
    if (drag.kind === 'fade') {
      const w = Math.max(0, drag.dx);
      el.querySelector('.tl-fade').style.width = `${w}px`; el.querySelector('.tl-fade-dot').style.left = `${w}px`;
    }
    read.textContent = label();
  });
  const done = () => {
    if (!drag) return;
    const d = drag; drag = null;
    if (Math.abs(d.dx) < 3) { draw(); return; }  // a click, not a drag
    const c = S.clips[d.i], k2 = pxf(), frames = Math.round(d.dx / k2);
    const src = (f) => Math.round(f * c.take_fps / S.fps);  // the cut's frames -> the take's own
    if (d.kind === 'move') {
      const centre = (d.left + d.dx + d.width / 2) / k2;
      const to = S.clips.filter((o, j) => j !== d.i && o.first + o.frames / 2 < centre).length;
      if (to !== d.i) send({act: 'move', entry: c.entry, to}); else draw();
    } else if (d.kind === 'in') {
      send({act: 'trim', entry: c.entry, trim_in: Math.max(0, c.trim_in + src(frames)), trim_out: c.trim_out});
    } else if (d.kind === 'out') {
      send({act: 'trim', entry: c.entry, trim_in: c.trim_in, trim_out: Math.max(0, c.trim_out - src(frames))});
    } else {
      send({act: 'fade', entry: c.entry, seconds: Math.max(0, c.fade_seconds + frames / S.fps)});
    }
  };
  ln.addEventListener('pointerup', done);
  ln.addEventListener('pointercancel', done);
  (S.audio || []).forEach((t) => root.insertBefore(audioLane(t, k), read));
  placeHead();
}

function audioLane(t, k) {
  // One audio track: its kept part drawn where it plays, its waveform scrolled by its trim in, fades shaded.
  const lane = document.createElement('div'); lane.className = 'tl-alane'; lane.dataset.track = t.track;
  const a = document.createElement('div'); a.className = 'tl-aclip'; a.tabIndex = 0;
  const kept = Math.max(0, t.seconds - t.trim_in - t.trim_out), px = S.fps * k;
  a.style.left = `${t.start * px}px`; a.style.width = `${Math.max(MIN_PX, kept * px)}px`;
  a.style.backgroundImage = `url('${t.wave}')`;
  a.style.backgroundSize = `${t.seconds * px}px 100%`; a.style.backgroundPosition = `${-t.trim_in * px}px 0`;
  a.title = `${t.name} · starts ${t.start.toFixed(2)} s · plays ${kept.toFixed(2)} s · ${t.gain_db >= 0 ? '+' : ''}` +
    `${t.gain_db} dB`;
  a.innerHTML = `<span class='tl-afade in' style='width:${t.fade_in * px}px'></span>` +
    `<span class='tl-afade out' style='width:${t.fade_out * px}px'></span>` +
    `<span class='tl-name'>${t.name.replace(/</g, '&lt;')} · ${t.gain_db >= 0 ? '+' : ''}${t.gain_db} dB</span>` +
    `<span class='tl-edge tl-in' data-edge='in'></span><span class='tl-edge tl-out' data-edge='out'></span>`;
  lane.appendChild(a);
  let g = null;
  lane.addEventListener('pointerdown', (e) => {
    if (!e.target.closest('.tl-aclip')) return;
    e.preventDefault();
    g = {kind: e.target.dataset.edge || 'move', x0: e.clientX, left: a.offsetLeft, width: a.offsetWidth, dx: 0};
    lane.setPointerCapture(e.pointerId);
  });
  lane.addEventListener('pointermove', (e) => {
    if (!g) return;
    g.dx = e.clientX - g.x0;
    if (g.kind !== 'out') a.style.left = `${g.left + g.dx}px`;
    if (g.kind === 'in') a.style.width = `${Math.max(MIN_PX, g.width - g.dx)}px`;
    if (g.kind === 'out') a.style.width = `${Math.max(MIN_PX, g.width + g.dx)}px`;
  });
  const up = () => {
    if (!g) return;
    const d = g; g = null;
    if (Math.abs(d.dx) < 3) { draw(); return; }
    const sec = d.dx / px;
    if (d.kind === 'move') send({act: 'audio_move', track: t.track, start: Math.max(0, t.start + sec)});
    else if (d.kind === 'in') send({act: 'audio_trim', track: t.track, start: Math.max(0, t.start + sec),
                                    trim_in: Math.max(0, t.trim_in + sec), trim_out: t.trim_out});
    else send({act: 'audio_trim', track: t.track, start: t.start, trim_in: t.trim_in,
               trim_out: Math.max(0, t.trim_out - sec)});
  };
  lane.addEventListener('pointerup', up);
  lane.addEventListener('pointercancel', up);
  return lane;
}

function label() {
  if (!drag) return `playhead ${tc(head)} · total ${tc(S.frames)}`;
  const f = Math.round(drag.dx / pxf());
  const what = {move: 'move', in: 'trim in', out: 'trim out', fade: 'crossfade'}[drag.kind];
  return `${what} ${f >= 0 ? '+' : '−'}${tc(Math.abs(f))}`;
}

function setHead(e) {
  const r = lane().getBoundingClientRect();
  head = Math.max(0, Math.min(S.frames, Math.round((e.clientX - r.left) / pxf())));
  placeHead();
  const v = document.querySelector('#cut-video video');
  if (v && v.duration) v.currentTime = Math.min(v.duration, head / S.fps);
}

function placeHead() {
  const ph = element.querySelector('.tl-playhead'), read = element.querySelector('.tl-readout');
  if (ph) ph.style.left = `${head * pxf()}px`;
  if (read) read.textContent = label();
}

function load() {
  try { S = JSON.parse(props.value || 'null'); } catch (e) { S = null; }
  if (S) head = Math.min(head, S.frames);
  draw();
}

watch('value', load);
load();
