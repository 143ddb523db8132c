"""A letter for each moving person, for the morning after: their new sign-in name, how they sign in the first time,
what happens to mail sent to them while it moves, where their mail, files and notes are now, the links of theirs
that changed, and the steps on their computer and phone. One HTML page per person, and one printable bundle per
department (page breaks between people).

Each letter is in the person's ``preferredLanguage`` where there is a translation (Dutch and English); a person
without one, or with another, gets the default language, and the index says so. A letter never holds a pass or a
password: it says who hands it over. The letters are plain files with no secret in them, so they may go in the
dossier."""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Your account moves to {company}'s new Microsoft 365",
        "hello": "Dear {name},",
        "intro": "{company} moves to a new Microsoft 365 subscription. Your mail, calendar, contacts, files, notes "
                 "and Teams chats move with you. This letter says what changes for you and what to do on your first "
                 "morning.",
        "signin_h": "How you sign in",
        "signin": "Your sign-in name is <b>{upn}</b>.",
        "pass": "The first time, you sign in with a one-time pass (a Temporary Access Pass). {handler} gives it to "
                "you. It works from {starts} to {expires}, once. Use it to register your sign-in methods "
                "(see step 5); after that you sign in as usual.",
        "password": "The first time, you sign in with a temporary password. {handler} gives it to you; you choose "
                    "your own password straight away.",
        "mail_h": "Your mail during the move",
        "mail": "From {down} mail to {address} is held up while the address moves; senders' mail servers keep it "
                "and deliver it once the move is done{up}.",
        "mail_safe": "Nothing sent to you in that time is lost: it arrives late.",
        "mail_unsafe": "Some senders' mail servers may return mail sent to you in that time as undeliverable: "
                       "if someone tells you so, ask them to send it again.",
        "where_h": "Where your things are now",
        "where_mail": "Mail, calendar, contacts and To Do tasks: in your new mailbox (Outlook, {outlook}).",
        "where_files": "Your OneDrive files: in your new OneDrive, in the same folders, with the same sharing.",
        "where_notes": "Your OneNote notebooks: in your new OneDrive's Notebooks folder.",
        "where_teams": "Your teams and chats: in Teams, with their messages, each under its author and date.",
        "links_h": "Links of yours that changed",
        "links": "Links to your files that you pasted into a document, a mail or a chat still point to the old "
                 "place. Their new addresses:",
        "steps_h": "Your first morning",
        "step1": "Outlook on your computer: make a new profile (Control Panel > Mail > Show Profiles > Add) and sign "
                 "in with your new name; remove the old profile once your mail is there.",
        "step2": "OneDrive on your computer: sign out of the old account (OneDrive settings > Account > Unlink this "
                 "PC), then sign in with your new name and choose the folders to sync.",
        "step3": "Teams: sign out, then sign in with your new name.",
        "step4": "Your phone: in Outlook, Teams and OneDrive remove the old account and add the new one.",
        "step5": "Register your sign-in methods (the Authenticator app) at {security}.",
        "devices_h": "Your devices",
        "no_devices": "No devices are registered to you.",
        "footer": "Questions? {handler}.",
        "handler": "Your IT administrator",
        "index": "Letters for the {department} department",
        "join": {"Entra-joined": "joined to the organisation", "registered": "registered", "hybrid-joined":
                 "joined through your office network", "not joined": "not set up yet"},
        "device": {"autopilot": "IT moves its registration to the new organisation; then reset it (Settings > System "
                                "> Recovery > Reset this PC) and sign in with your new name: it sets itself up",
                   "rejoin": "save your local files to OneDrive, disconnect it from the old organisation (Settings > "
                             "Accounts > Access work or school > Disconnect) and connect it to the new one",
                   "account": "remove your old work account (Settings > Accounts > Access work or school, or the "
                              "Company Portal app) and add your new one",
                   "hybrid": "IT moves it with your office network: nothing to do",
                   "intune": "IT removes it from the old management; enrol it again in the Company Portal app"},
    },
    "nl": {
        "title": "Uw account verhuist naar het nieuwe Microsoft 365 van {company}",
        "hello": "Beste {name},",
        "intro": "{company} stapt over op een nieuw Microsoft 365-abonnement. Uw e-mail, agenda, contactpersonen, "
                 "bestanden, notities en Teams-chats verhuizen mee. Deze brief zegt wat er voor u verandert en wat u "
                 "de eerste ochtend doet.",
        "signin_h": "Zo meldt u zich aan",
        "signin": "Uw aanmeldnaam is <b>{upn}</b>.",
        "pass": "De eerste keer meldt u zich aan met een eenmalige toegangscode (Temporary Access Pass). {handler} "
                "geeft u die. Hij werkt van {starts} tot {expires}, één keer. Registreer er uw "
                "aanmeldmethoden mee (zie stap 5); daarna meldt u zich aan zoals altijd.",
        "password": "De eerste keer meldt u zich aan met een tijdelijk wachtwoord. {handler} geeft u dat; u kiest "
                    "meteen uw eigen wachtwoord.",
        "mail_h": "Uw e-mail tijdens de verhuizing",
        "mail": "Vanaf {down} wordt e-mail aan {address} even vastgehouden terwijl het adres verhuist; de mailservers "
                "van de afzenders bewaren die en bezorgen hem zodra de verhuizing klaar is{up}.",
        "mail_safe": "Niets wat u in die tijd gestuurd wordt, gaat verloren: het komt later aan.",
        "mail_unsafe": "Sommige mailservers van afzenders kunnen e-mail die u in die tijd gestuurd wordt als "
                       "onbestelbaar terugsturen: hoort u dat, vraag dan of men hem opnieuw stuurt.",
        "where_h": "Waar uw spullen nu staan",
        "where_mail": "E-mail, agenda, contactpersonen en To Do-taken: in uw nieuwe postvak (Outlook, {outlook}).",
        "where_files": "Uw OneDrive-bestanden: in uw nieuwe OneDrive, in dezelfde mappen, met dezelfde delingen.",
        "where_notes": "Uw OneNote-notitieblokken: in de map Notitieblokken van uw nieuwe OneDrive.",
        "where_teams": "Uw teams en chats: in Teams, met hun berichten, elk onder de eigen schrijver en datum.",
        "links_h": "Koppelingen van u die veranderd zijn",
        "links": "Koppelingen naar uw bestanden die u in een document, e-mail of chat plakte, wijzen nog naar de "
                 "oude plek. De nieuwe adressen:",
        "steps_h": "Uw eerste ochtend",
        "step1": "Outlook op uw computer: maak een nieuw profiel (Configuratiescherm > E-mail > Profielen "
                 "weergeven > Toevoegen) en meld u aan met uw nieuwe naam; verwijder het oude profiel zodra uw "
                 "e-mail er is.",
        "step2": "OneDrive op uw computer: meld het oude account af (OneDrive-instellingen > Account > Koppeling "
                 "met deze pc opheffen), meld u aan met uw nieuwe naam en kies de mappen om te synchroniseren.",
        "step3": "Teams: meld u af en meld u aan met uw nieuwe naam.",
        "step4": "Uw telefoon: verwijder in Outlook, Teams en OneDrive het oude account en voeg het nieuwe toe.",
        "step5": "Registreer uw aanmeldmethoden (de Authenticator-app) op {security}.",
        "devices_h": "Uw apparaten",
        "no_devices": "Er staan geen apparaten op uw naam.",
        "footer": "Vragen? {handler}.",
        "handler": "Uw IT-beheerder",
        "index": "Brieven voor de afdeling {department}",
        "join": {"Entra-joined": "gekoppeld aan de organisatie", "registered": "geregistreerd", "hybrid-joined":
                 "gekoppeld via het kantoornetwerk", "not joined": "nog niet ingericht"},
        "device": {"autopilot": "IT verhuist de registratie naar de nieuwe organisatie; zet het apparaat daarna terug "
                                "(Instellingen > Systeem > Herstel > Deze pc opnieuw instellen) en meld u aan met uw "
                                "nieuwe naam: het richt zichzelf in",
                   "rejoin": "zet uw lokale bestanden in OneDrive, ontkoppel het van de oude organisatie "
                             "(Instellingen > Accounts > Toegang tot werk of school > Verbinding verbreken) en koppel "
                             "het aan de nieuwe",
                   "account": "verwijder uw oude werkaccount (Instellingen > Accounts > Toegang tot werk of school, of "
                              "de app Bedrijfsportal) en voeg uw nieuwe toe",
                   "hybrid": "IT verhuist het met het kantoornetwerk: u hoeft niets te doen",
                   "intune": "IT haalt het uit het oude beheer; meld het opnieuw aan in de app Bedrijfsportal"},
    },
}
DEFAULT_LANGUAGE = "en"
SECURITY_INFO = "https://aka.ms/mysecurityinfo"
OUTLOOK_WEB = "https://outlook.office.com"
STYLE = ("body{font-family:Segoe UI,Arial,sans-serif;max-width:44em;margin:2em auto;line-height:1.45}"
         "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.4em}.letter{page-break-after:always}"
         "table{border-collapse:collapse}td{border:1px solid #ccc;padding:.2em .4em;font-size:.9em}")
INDEX_COLUMNS = ["person", "sign-in name", "language", "language note", "department", "first sign-in", "devices",
                 "changed links", "file"]


@dataclass
class Person:
    display_name: str
    upn: str  # the new sign-in name
    address: str  # the mail address that moves
    preferred_language: str | None
    department: str = ""
    first_sign_in: str = "password"  # "pass" | "password"
    starts: str = ""
    expires: str = ""
    # each device: (name, join, os, its steps), said in the letter's language; or a line as it is
    devices: list[tuple[str, str, str, tuple[str, ...]] | str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (old URL, new URL)


@dataclass
class Context:
    company: str
    mail_down: str  # when mail stops (planned or as it happened)
    mail_up: str = ""
    mail_safe: bool = True  # False: the window's plan said senders may bounce (a mail-only domain, no holding MX)
    handler: str = ""  # who hands out passes and answers questions (empty: "your IT administrator")


def language(preferred: str | None) -> tuple[str, str]:
    """The letter's language for a ``preferredLanguage`` (e.g. nl-NL), and a note when it is the default instead."""
    wanted = str(preferred or "").split("-")[0].lower()
    if wanted in TEXT:
        return wanted, ""
    if not wanted:
        return DEFAULT_LANGUAGE, "no preferredLanguage: the default language"
    return DEFAULT_LANGUAGE, f"no translation for {preferred}: the default language"


def moment(stamp: str) -> str:
    """A UTC stamp as a person reads it ("2027-01-11 07:00 UTC"); anything else as it is."""
    try:
        when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def letter_body(person: Person, ctx: Context) -> tuple[str, str]:
    """The letter's HTML (a <div class="letter">) and its language."""
    lang, _ = language(person.preferred_language)
    t = TEXT[lang]
    esc = html.escape
    handler = esc(ctx.handler or t["handler"])
    up = f" ({esc(moment(ctx.mail_up))})" if ctx.mail_up else ""
    first = t["pass"].format(handler=handler, starts=esc(moment(person.starts)), expires=esc(moment(person.expires))) \
        if person.first_sign_in == "pass" else t["password"].format(handler=handler)
    parts = [f'<div class="letter" lang="{lang}">', f"<h1>{esc(t['title'].format(company=ctx.company))}</h1>",
             f"<p>{esc(t['hello'].format(name=person.display_name))}</p>",
             f"<p>{esc(t['intro'].format(company=ctx.company))}</p>",
             f"<h2>{t['signin_h']}</h2>", f"<p>{t['signin'].format(upn=esc(person.upn))}</p>", f"<p>{first}</p>",
             f"<h2>{t['mail_h']}</h2>",
             f"<p>{t['mail'].format(down=esc(moment(ctx.mail_down)), address=esc(person.address), up=up)}"
             + f" {t['mail_safe'] if ctx.mail_safe else t['mail_unsafe']}</p>",
             f"<h2>{t['where_h']}</h2><ul>",
             f"<li>{t['where_mail'].format(outlook=OUTLOOK_WEB)}</li>", f"<li>{t['where_files']}</li>",
             f"<li>{t['where_notes']}</li>", f"<li>{t['where_teams']}</li></ul>"]
    if person.links:
        rows = "".join(f"<tr><td>{esc(old)}</td><td>{esc(new)}</td></tr>" for old, new in person.links)
        parts += [f"<h2>{t['links_h']}</h2>", f"<p>{t['links']}</p>", f"<table>{rows}</table>"]
    steps = "".join(f"<li>{t[f'step{i}'].format(security=SECURITY_INFO)}</li>" for i in range(1, 6))
    parts += [f"<h2>{t['steps_h']}</h2><ol>{steps}</ol>", f"<h2>{t['devices_h']}</h2>"]
    parts += ["<ul>" + "".join(f"<li>{esc(_device(d, t))}</li>" for d in person.devices) + "</ul>"
              if person.devices else f"<p>{t['no_devices']}</p>"]
    parts += [f"<p>{t['footer'].format(handler=handler)}</p>", "</div>"]
    return "\n".join(parts), lang


def _device(device: tuple[str, str, str, tuple[str, ...]] | str, t: dict) -> str:
    if isinstance(device, str):
        return device
    name, join, os, steps = device
    said = "; ".join(t["device"][s] for s in steps if s in t["device"])
    return f"{name} ({t['join'].get(join, join)}, {os}): {said}"


def _page(title: str, body: str, lang: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]+", "-", text).strip("-").lower() or "none"


def write(people: list[Person], ctx: Context, folder: Path) -> pd.DataFrame:
    """One page per person and one bundle per department into ``folder``; the index of what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    rows, bundles = [], {}
    for person in people:
        body, lang = letter_body(person, ctx)
        name = f"{_file_name(person.upn)}.html"
        (folder / name).write_text(_page(TEXT[lang]["title"].format(company=ctx.company), body, lang),
                                   encoding="utf-8")
        bundles.setdefault(person.department or "(no department)", []).append(body)
        rows.append({"person": person.display_name, "sign-in name": person.upn, "language": lang,
                     "language note": language(person.preferred_language)[1], "department": person.department,
                     "first sign-in": "one-time pass" if person.first_sign_in == "pass" else "temporary password",
                     "devices": len(person.devices), "changed links": len(person.links), "file": name})
    for department, bodies in sorted(bundles.items()):
        title = TEXT[DEFAULT_LANGUAGE]["index"].format(department=department)
        (folder / f"department-{_file_name(department)}.html").write_text(
            _page(title, "\n".join(bodies), DEFAULT_LANGUAGE), encoding="utf-8")
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    index.to_csv(folder / "letters.csv", index=False)
    return index
