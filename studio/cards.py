"""The storyboard's cards as HTML (studio.panels.storyboard shows them): one card per shot in order, its animatic
first, then its takes as playable videos with their buttons, a long take's partial file while it renders, and the
footage bin. Pure builders: they read the store and the queue and return HTML, nothing else."""
from __future__ import annotations

from urllib.parse import quote

from engine.errors import InputError
from studio import scene as scenes
from studio.animatic import animatic
from studio.jobs import take_record
from studio.naming import esc, footage_name


def cards_html(studio, pid, shot_id) -> str:
    if not pid:
        return "<p>No project open. Create one, or open the example project.</p>"
    shots = studio.store.shots(pid)
    on_timeline = {e["take_id"] for e in studio.store.timeline(pid)}
    footage = studio.store.footage(pid)
    bin_ = f"<div class='cards'>{footage_html(studio, footage, on_timeline)}</div>" if footage else ""
    if not shots:
        return "<p>No shots yet: press <b>Add shot</b>, type a prompt, and <b>Save shot</b>.</p>" + bin_
    checks = scenes.shot_checks(scenes.latest_scene(studio.store, pid))
    partials = studio.queue.partials(pid)
    cards = []
    for i, s in enumerate(shots):
        takes = studio.store.takes(pid, s["id"])
        still = " · animates a still" if s["start_image"] else ""
        strip = "".join(take_html(studio, k + 1, t, t["id"] in on_timeline, checks.get(t["id"]))
                        for k, t in enumerate(takes))
        if s["id"] in partials:
            strip += partial_html(studio, partials[s["id"]])
        strip = animatic_html(studio, pid, s) + strip
        cards.append(f"<div class='card{' sel' if s['id'] == shot_id else ''}' data-shot='{s['id']}'>"
                     f"<b>Shot {i + 1}</b>{esc(s['prompt'][:90]) or '<i>no prompt yet</i>'}"
                     f"<small><br>{s['seconds']:g} s · {s['aspect']} · seed {s['seed']} · {len(takes)} take(s){still}"
                     f"</small><div class='takes'>{strip}</div></div>")
    if footage:
        cards.append(footage_html(studio, footage, on_timeline))
    return f"<div class='cards'>{''.join(cards)}</div>"


def footage_html(studio, footage: list[dict], on_timeline: set) -> str:
    """The footage bin: the filmmaker's own clips (uploaded in Fill frames) and the takes made from them, each
    playable, with Select (for the take actions) and Use on timeline (appends it as a clip of its own)."""
    figs = []
    for t in footage:
        url = "gradio_api/file=" + quote(str(studio.store.path(t["path"])))
        counts = ", ".join(f"{n} {k}" for k, n in take_record(t).counts().items())
        what = f"{t['frames']} frames at {t['fps']:g} fps · {counts}"
        badge = " <span class='badge'>★ on the timeline</span>" if t["id"] in on_timeline else ""
        part = " <span class='partial'>partial (stopped)</span>" if t["cancelled"] else ""
        figs.append(f"<figure class='take{' chosen' if t['id'] in on_timeline else ''}' data-take='{t['id']}' "
                    f"data-footage='{esc(t['kind'])}' title='{esc(t['settings'].get('prompt', ''))}'>"
                    f"<video src='{url}' controls muted loop playsinline preload='metadata'></video>"
                    f"<figcaption>{esc(footage_name(t))}{badge}{part}<br><small>{esc(what)}</small></figcaption>"
                    f"<button data-act='open' data-take='{t['id']}'>Select</button>"
                    f"<button data-act='choose' data-take='{t['id']}'>Use on timeline</button></figure>")
    return (f"<div class='card footage' id='footage-bin'><b>Footage</b><small>your own clips (upload in Fill "
            f"frames) and the fixes made from them · {len(footage)} clip(s)</small>"
            f"<div class='takes'>{''.join(figs)}</div></div>")


def take_html(studio, number: int, t: dict, chosen: bool, checks: list | None = None) -> str:
    """One take under its card: the video (served from the projects folder), its settings, its two buttons;
    for a shot kept by a scene render, what the continuity check saw."""
    st = t["settings"]
    url = "gradio_api/file=" + quote(str(studio.store.path(t["path"])))
    what = f"{t['kind']} · seed {st.get('seed', '?')} · {st.get('steps', '?')} steps · {t['frames']} frames"
    if st.get("long_take"):
        what += f" · {st.get('windows', '?')} windows"
    if st.get("tracks"):  # a verb that went through its footage's tracks (engine.verbs) says so
        what += f" · {st['tracks'][:100]}"
    title = esc(f"{st.get('prompt', '')} | guidance {st.get('guidance', '?')} | {st.get('model', '')}")
    badge = "<span class='badge'>★ on the timeline</span>" if chosen else ""
    part = " <span class='partial'>partial (stopped)</span>" if t["cancelled"] else ""
    if t["cancelled"] and st.get("long_take"):
        part += (f" <span class='partial'>{st.get('windows_done', 0)}/{st.get('windows', '?')} windows; "
                 "render the shot again to resume</span>")
    cont = ""
    if checks:
        broken = [f"{c['member']}: {'; '.join(c['problems'])}" for c in checks if not c["ok"]]
        cont = (f"<span class='continuity broken'>⚠️ continuity: {esc(' | '.join(broken))}</span>" if broken else
                f"<span class='continuity'>✓ continuity: {esc(', '.join(c['member'] for c in checks))}</span>")
    return (f"<figure class='take{' chosen' if chosen else ''}' data-take='{t['id']}' title='{title}'>"
            f"<video src='{url}' controls muted loop playsinline preload='metadata'></video>"
            f"<figcaption>Take {number} {badge}{part}{cont}<br><small>{esc(what)}</small></figcaption>"
            f"<button data-act='open' data-take='{t['id']}'>Select</button>"
            f"<button data-act='choose' data-take='{t['id']}'>Use on timeline</button></figure>")


def animatic_html(studio, pid, shot: dict) -> str:
    """The shot's plan as an animatic (studio.animatic), first under its card, with Re-plan (the next seed)."""
    try:
        made = animatic(studio, pid, shot)
    except InputError:  # a prompt the planner refuses: the card says nothing more than its prompt does
        made = None
    if made is None:
        return ""
    rel, planned = made
    follows = "" if studio.engines().takes_layout else " · this model renders from the prompt alone, not the plan"
    url = "gradio_api/file=" + quote(str(studio.store.path(rel)))
    return (f"<figure class='take animatic' data-shot='{shot['id']}' title='{esc(planned)}'>"
            f"<video src='{url}' muted autoplay loop playsinline preload='auto'></video>"
            f"<figcaption>Plan (animatic) · seed {shot['seed']}<br><small>{esc(planned[:120])}{follows}</small>"
            "</figcaption>"
            f"<button data-act='replan' data-shot='{shot['id']}'>Re-plan</button></figure>")


def partial_html(studio, part: dict) -> str:
    """A long take rendering now: its partial file (a fragmented MP4 that plays while it grows), window k/N."""
    url = "gradio_api/file=" + quote(part["path"]) + f"?window={part['window']}"  # a new URL per window
    return (f"<figure class='take rendering' data-partial='{part['window']}/{part['windows']}'>"
            f"<video src='{url}' controls muted autoplay playsinline preload='auto'></video>"
            f"<figcaption>Rendering <span class='window'>window {part['window']}/{part['windows']}</span>"
            f"<br><small>plays what is finished</small></figcaption></figure>")
