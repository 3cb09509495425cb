"""HTML of the study pages (self-contained: inline CSS and a few lines of script, no external files)."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from colormnet.study.folder import VIDEO_SUFFIXES

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f4f2;color:#222}
header{background:#26303a;color:#fff;padding:.7rem 1.2rem;display:flex;justify-content:space-between;
align-items:baseline;flex-wrap:wrap;gap:.5rem}
header h1{font-size:1.15rem;margin:0;font-weight:600}
main{max-width:1400px;margin:0 auto;padding:1rem 1.2rem}
.q{font-size:1.02rem;margin:.2rem 0 1rem}
.row{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));margin-bottom:1rem}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.15);padding:.6rem;display:flex;
flex-direction:column;gap:.4rem}
.card h2{font-size:.95rem;margin:0;color:#555;font-weight:600}
.card video,.card img{width:100%;border-radius:4px;background:#000}
.choose{font-size:1.05rem;padding:.55rem;border:0;border-radius:6px;background:#2f6fde;color:#fff;cursor:pointer}
.choose:hover{background:#1f55b5}
.ref{grid-template-columns:repeat(auto-fit,minmax(220px,360px))}
.msg{background:#fff3cd;border:1px solid #e0c36c;padding:.8rem;border-radius:6px}
.err{background:#fde2e1;border-color:#e08a86}
form.start input{font-size:1.05rem;padding:.4rem;margin-right:.5rem}
.bar{height:6px;background:#ccd;border-radius:3px;overflow:hidden;margin-top:.3rem;width:220px}
.bar span{display:block;height:100%;background:#7bd389}
"""

_SCRIPT = """
function restartAll(){document.querySelectorAll('video').forEach(v=>{v.currentTime=0;v.play();});}
"""


def _media(src: str, label: str) -> str:
    url = "/" + quote(src)
    if src.lower().endswith(VIDEO_SUFFIXES):
        return (f'<video src="{url}" muted loop autoplay playsinline controls preload="auto" '
                f'aria-label="{escape(label)}"></video>')
    return f'<img src="{url}" alt="{escape(label)}">'


def _page(title: str, body: str, status_line: str = "") -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
            f"content='width=device-width,initial-scale=1'><title>{escape(title)}</title><style>{_CSS}</style>"
            f"<script>{_SCRIPT}</script></head><body><header><h1>{escape(title)}</h1>{status_line}</header>"
            f"<main>{body}</main></body></html>")


def start_page(meta: dict, error: str = "") -> str:
    """Welcome page: what to do, and the observer id."""
    err = f"<p class='msg err' id='error'>{escape(error)}</p>" if error else ""
    body = (f"{err}<p class='q'>{escape(meta['question'])}</p>"
            f"<p>You will see {len(meta['groups'])} clips. For each, the results are shown in a new random "
            "order and without names. There is no right answer: go with your impression.</p>"
            "<form class='start' method='get' action='/vote'><label>Your observer id "
            "<input id='observer' name='observer' required pattern='[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}' "
            "maxlength='64' autofocus></label><button class='choose' id='start' type='submit'>Start</button>"
            "</form><p><small>Use the id the experimenter gave you (letters, digits, _ . @ -), "
            "the same one if you come back later.</small></p>")
    return _page(meta["title"], body)


def group_page(meta: dict, group: dict, tokens: list[str], observer: str, done: int) -> str:
    """One group: input + exemplar, then the outputs in the given (shuffled) order as A, B, C, ..."""
    total = len(meta["groups"])
    status = (f"<div>observer <b id='who'>{escape(observer)}</b> &middot; clip <span id='progress'>"
              f"{done + 1} of {total}</span><div class='bar'><span style='width:{100 * done / total:.0f}%'>"
              "</span></div></div>")
    refs = (f"<div class='row ref'><div class='card'><h2>Black-and-white input</h2>{_media(group['input'], 'input')}"
            f"</div><div class='card'><h2>Colour exemplar</h2>{_media(group['exemplar'], 'exemplar')}</div></div>")
    cards = []
    for i, token in enumerate(tokens):
        label = chr(ord("A") + i) if i < 26 else str(i + 1)
        cards.append(f"<div class='card result' data-label='{label}'><h2>Result {label}</h2>"
                     f"{_media(group['outputs'][token]['file'], 'result ' + label)}"
                     f"<button class='choose' type='submit' name='choice' value='{escape(token)}' "
                     f"id='choose-{label}'>Choose {label}</button></div>")
    form = (f"<form method='post' action='/vote'><input type='hidden' name='observer' value='{escape(observer)}'>"
            f"<input type='hidden' name='group' value='{escape(group['id'])}'>"
            f"<input type='hidden' name='order' value='{escape(','.join(tokens))}'>"
            f"<div class='row'>{''.join(cards)}</div></form>")
    body = (f"<p class='q'>{escape(meta['question'])} "
            "<button type='button' onclick='restartAll()'>&#8634; play all from the start</button></p>"
            f"{refs}{form}")
    return _page(meta["title"], body, status)


def message_page(meta: dict, text: str, *, observer: str = "", error: bool = False) -> str:
    """A short message (thanks, already voted, bad request) with a link onwards."""
    link = (f"<p><a id='continue' href='/vote?observer={quote(observer)}'>Continue</a></p>" if observer
            else "<p><a href='/'>Back to the start</a></p>")
    cls = "msg err" if error else "msg"
    return _page(meta["title"], f"<p class='{cls}' id='message'>{escape(text)}</p>{link}")
