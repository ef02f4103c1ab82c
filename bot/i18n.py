"""User-facing text in English and French; command names/descriptions are translated in ``bot/app.py``."""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "fr"]

MESSAGES: dict[str, dict[str, str]] = {
    "queued": {
        "en": "⏳ In the queue: position {position} (~{eta} s).",
        "fr": "⏳ Dans la file : position {position} (~{eta} s).",
    },
    "stage.start": {"en": "🎨 Starting…", "fr": "🎨 C'est parti…"},
    "stage.segment": {"en": "🔍 Finding the figures…", "fr": "🔍 Je cherche les personnages…"},
    "stage.substitute": {"en": "✂️ Swapping…", "fr": "✂️ J'échange les éléments…"},
    "stage.stylize": {"en": "🖌️ Painting…", "fr": "🖌️ Je peins…"},
    "stage.upscale": {"en": "🔎 Upscaling…", "fr": "🔎 J'agrandis…"},
    "busy": {
        "en": "😮‍💨 I'm busy right now — please try again in ~{seconds} s.",
        "fr": "😮‍💨 Je suis occupée — réessaie dans ~{seconds} s.",
    },
    "user_limit": {
        "en": "✋ You already have {running} running and {queued} waiting. Wait for them to finish.",
        "fr": "✋ Tu as déjà {running} en cours et {queued} en attente. Attends qu'elles se terminent.",
    },
    "not_image": {
        "en": "🖼️ I can't use that file as a painting ({reason}). Send a PNG, JPEG or WebP image.",
        "fr": "🖼️ Je ne peux pas utiliser ce fichier comme tableau ({reason}). "
        "Envoie une image PNG, JPEG ou WebP.",
    },
    "unknown_painting": {
        "en": "🤔 I don't know the painting “{name}”. Pick one from the suggestions.",
        "fr": "🤔 Je ne connais pas le tableau « {name} ». Choisis-en un dans les suggestions.",
    },
    "empty_corpus": {
        "en": "📭 No paintings are configured. Attach an image instead.",
        "fr": "📭 Aucun tableau n'est configuré. Joins plutôt une image.",
    },
    "timeout": {
        "en": "⌛ That took too long (over {seconds} s) and was stopped. Try a smaller image or again later.",
        "fr": "⌛ C'était trop long (plus de {seconds} s), j'ai arrêté. "
        "Essaie une image plus petite ou plus tard.",
    },
    "failed": {
        "en": "💥 Something went wrong (error id `{error_id}`). It has been logged.",
        "fr": "💥 Un problème est survenu (erreur `{error_id}`). Il a été noté.",
    },
    "cancelled": {"en": "🚫 Cancelled.", "fr": "🚫 Annulé."},
    "interrupted": {
        "en": "🔌 I restarted while working on a request from <@{user_id}> and could not finish it. "
        "Please ask again.",
        "fr": "🔌 J'ai redémarré pendant une demande de <@{user_id}> et n'ai pas pu la finir. Redemande-la.",
    },
    "resumed": {
        "en": "🔁 Finished after a restart, for <@{user_id}>:",
        "fr": "🔁 Terminé après un redémarrage, pour <@{user_id}> :",
    },
    "output_gone": {
        "en": "🗑️ That picture is no longer available.",
        "fr": "🗑️ Cette image n'est plus disponible.",
    },
    "no_swaps": {
        "en": "No element was swapped this time.",
        "fr": "Aucun élément n'a été échangé cette fois.",
    },
    "swaps": {"en": "What became what", "fr": "Ce qui est devenu quoi"},
    "swap_line": {"en": "{what} → {source}", "fr": "{what} → {source}"},
    "credit": {"en": "photo: {credit}", "fr": "photo : {credit}"},
    "seed": {"en": "seed {seed}", "fr": "graine {seed}"},
    "painting_unknown": {"en": "Your painting", "fr": "Ton tableau"},
    "masks_title": {"en": "What I found in {title}", "fr": "Ce que j'ai trouvé dans {title}"},
    "upscaled_title": {"en": "{title} (×{scale})", "fr": "{title} (×{scale})"},
    "button.again": {"en": "Another one", "fr": "Une autre"},
    "button.upscale": {"en": "Upscale ×2", "fr": "Agrandir ×2"},
    "button.masks": {"en": "Show masks", "fr": "Voir les masques"},
    "button.keep": {"en": "Same, keep colours", "fr": "Pareil, garder les couleurs"},
    "downsized": {
        "en": "(sent as {fmt} to fit the upload limit)",
        "fr": "(envoyée en {fmt} pour tenir dans la limite d'envoi)",
    },
    "no_attachment": {
        "en": "Attach an image to `{prefix}muse`, or name a painting.",
        "fr": "Joins une image à `{prefix}muse`, ou nomme un tableau.",
    },
    "not_admin": {
        "en": "🔒 You need the Manage Server permission for that.",
        "fr": "🔒 Il te faut la permission Gérer le serveur pour ça.",
    },
}


def t(key: str, language: str = "en", /, **values: object) -> str:
    """The message ``key`` in ``language`` (English fallback), formatted with ``values``."""
    entry = MESSAGES[key]
    template = entry.get(language) or entry["en"]
    return template.format(**values) if values else template


def language_of(locale: str | None) -> Language:
    """Discord locale ("fr", "en-US", ...) to one of our languages."""
    return "fr" if locale and str(locale).lower().startswith("fr") else "en"
