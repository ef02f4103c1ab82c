"""User-facing text in English and French; command names/descriptions are translated in ``bot/app.py``."""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "fr"]

MESSAGES: dict[str, dict[str, str]] = {
    "queued": {
        "en": "⏳ In the queue: position {position} (~{eta} s).",
        "fr": "⏳ Dans la file : position {position} (~{eta} s).",
    },
    "queued.unmeasured": {
        "en": "⏳ In the queue: position {position}.",
        "fr": "⏳ Dans la file : position {position}.",
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
    "workers_down": {
        "en": "🛠️ My painting workers are unreachable right now — please try again in a few minutes.",
        "fr": "🛠️ Mes ateliers de peinture sont injoignables — réessaie dans quelques minutes.",
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
    "image.empty": {
        "en": "🖼️ That file is empty (0 bytes). Attach the image itself as a PNG, JPEG or WebP.",
        "fr": "🖼️ Ce fichier est vide (0 octet). Joins l'image elle-même en PNG, JPEG ou WebP.",
    },
    "image.too_large": {
        "en": "🖼️ That file is too big (over {limit_mb} MB). Send a smaller PNG, JPEG or WebP.",
        "fr": "🖼️ Ce fichier est trop gros (plus de {limit_mb} Mo). Envoie un PNG, JPEG ou WebP plus léger.",
    },
    "image.not_an_image": {
        "en": "🖼️ That file is not an image I can read. Send a PNG, JPEG or WebP picture.",
        "fr": "🖼️ Ce fichier n'est pas une image que je sais lire. Envoie une image PNG, JPEG ou WebP.",
    },
    "image.too_many_pixels": {
        "en": "🖼️ That image has too many pixels to open safely (limit {limit_mp} megapixels). "
        "Send a smaller one.",
        "fr": "🖼️ Cette image a trop de pixels pour l'ouvrir sans risque (limite {limit_mp} mégapixels). "
        "Envoie-en une plus petite.",
    },
    "image.truncated": {
        "en": "🖼️ That image is cut short or damaged (the upload may have stopped). Try sending it again.",
        "fr": "🖼️ Cette image est incomplète ou abîmée (l'envoi s'est peut-être arrêté). Renvoie-la.",
    },
    "image.unreadable": {
        "en": "🖼️ That image's header is damaged, so I can't open it. Re-save it as PNG or JPEG.",
        "fr": "🖼️ L'en-tête de cette image est abîmé, je ne peux pas l'ouvrir. "
        "Réenregistre-la en PNG ou JPEG.",
    },
    "image.too_small": {
        "en": "🖼️ That image is too small (at least {min_side} pixels on each side, please).",
        "fr": "🖼️ Cette image est trop petite (il faut au moins {min_side} pixels de chaque côté).",
    },
    "image.extreme_aspect": {
        "en": "🖼️ That image is too long and thin (more than {max_aspect}:1). "
        "Crop it closer to a painting's shape.",
        "fr": "🖼️ Cette image est trop longue et fine (plus de {max_aspect}:1). Recadre-la comme un tableau.",
    },
    "image.too_complex": {
        "en": "🖼️ That image would cost too much to decode (over {limit_scans} progressive scans, or too "
        "large for its format). Re-save it as an ordinary PNG or JPEG.",
        "fr": "🖼️ Cette image coûterait trop cher à décoder (plus de {limit_scans} passes progressives, ou "
        "trop grande pour son format). Réenregistre-la en PNG ou JPEG ordinaire.",
    },
    "image.not_a_file": {
        "en": "🖼️ That is not a file I can read. Attach the image itself as a PNG, JPEG or WebP.",
        "fr": "🖼️ Ce n'est pas un fichier que je sais lire. Joins l'image elle-même en PNG, JPEG ou WebP.",
    },
    "link_not_fetched": {
        "en": "🔗 I don't open links. Attach the image file to `/muse` (the image option) "
        "or to `!muse` instead.",
        "fr": "🔗 Je n'ouvre pas les liens. Joins plutôt le fichier image à `/muse` (option image) "
        "ou à `!muse`.",
    },
    "rate_limited": {
        "en": "🐢 That's more than {per_minute} requests in a minute. Try again in ~{seconds} s.",
        "fr": "🐢 Ça fait plus de {per_minute} demandes en une minute. Réessaie dans ~{seconds} s.",
    },
    "note.animated_first_frame": {
        "en": "animated image: I used its first frame",
        "fr": "image animée : j'ai utilisé sa première image",
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
    "unavailable": {
        "en": "⏳ La Muse is not ready for that right now; try again in a moment.",
        "fr": "⏳ La Muse n'est pas prête pour ça pour l'instant ; réessaie dans un moment.",
    },
    "output_gone": {
        "en": "🗑️ That picture is no longer available (stored pictures expire after a while).",
        "fr": "🗑️ Cette image n'est plus disponible (les images gardées expirent au bout d'un moment).",
    },
    "no_swaps": {
        "en": "No element was swapped this time.",
        "fr": "Aucun élément n'a été échangé cette fois.",
    },
    "swaps": {"en": "What became what", "fr": "Ce qui est devenu quoi"},
    "swap_line": {"en": "{what} → {became}", "fr": "{what} → {became}"},
    "swap_photo": {"en": "from a photo of {subject}", "fr": "d'une photo « {subject} »"},
    "credit": {"en": "photo: {credit}", "fr": "photo : {credit}"},
    "credit.photo": {"en": "photo", "fr": "photo"},
    "seed": {"en": "seed {seed}", "fr": "graine {seed}"},
    "recipe": {"en": "recipe {recipe}", "fr": "recette {recipe}"},
    "grid.intro": {
        "en": "Four case studies to choose from: **U** shows one whole with its explanation and credits, "
        "**V** makes four close to it, 🔄 four new ones.",
        "fr": "Quatre études au choix : **U** en montre une en entier, avec son explication et ses crédits, "
        "**V** en fait quatre proches d'elle, 🔄 quatre nouvelles.",
    },
    "painting_unknown": {"en": "Your painting", "fr": "Ton tableau"},
    "masks_title": {"en": "What I found in {title}", "fr": "Ce que j'ai trouvé dans {title}"},
    "upscaled_title": {"en": "{title} (×{scale})", "fr": "{title} (×{scale})"},
    "button.again": {"en": "Another one", "fr": "Une autre"},
    "button.upscale": {"en": "Upscale ×2", "fr": "Agrandir ×2"},
    "button.masks": {"en": "Show masks", "fr": "Voir les masques"},
    "button.keep": {"en": "Same, keep colours", "fr": "Pareil, garder les couleurs"},
    "button.sheet": {"en": "Case study", "fr": "Étude de cas"},
    "sheet_title": {"en": "Case study: {title}", "fr": "Étude de cas : {title}"},
    "downsized": {
        "en": "(sent as {fmt} to fit the upload limit)",
        "fr": "(envoyée en {fmt} pour tenir dans la limite d'envoi)",
    },
    "conflicting_options": {
        "en": "🤔 Give either `{first}` or `{second}`, not both: I can only start from one painting.",
        "fr": "🤔 Donne soit `{first}`, soit `{second}`, pas les deux : je pars d'un seul tableau.",
    },
    "bad_recipe": {
        "en": "🧾 That is not a recipe I can read. Copy it from a picture's footer; "
        "it looks like `{example}`.",
        "fr": "🧾 Je ne sais pas lire cette recette. Copie-la depuis le bas d'une image ; "
        "elle ressemble à `{example}`.",
    },
    "no_backgrounds": {
        "en": "🏞️ `background: swap` needs background photos, and none are set up here. "
        "Try `keep` or `none`.",
        "fr": "🏞️ `background: swap` demande des photos de fond, et aucune n'est installée ici. "
        "Essaie `keep` ou `none`.",
    },
    "daily.no_channel": {
        "en": "Set a channel first: /muse-admin daily set",
        "fr": "Choisis d'abord un salon : /muse-admin daily set",
    },
    "daily.posting": {"en": "Posting now.", "fr": "Publication en cours."},
    "daily.not_posted": {"en": "Could not post now.", "fr": "Impossible de publier maintenant."},
    "top.empty": {"en": "No votes yet ({period}).", "fr": "Pas encore de votes ({period})."},
    "top.title": {"en": "La Muse — top ({period})", "fr": "La Muse — les meilleures ({period})"},
    "help.title": {"en": "La Muse — how it works", "fr": "La Muse — mode d'emploi"},
    "help.body": {
        "en": "**/muse** reinterprets a painting: attach yours (`image`), pick one from the collection "
        "(`painting`, with suggestions), or give neither for a surprise. Each person, animal and object "
        "is swapped for a real one cut out of a photo, re-painted in the painting's style.\n"
        "You get **four case studies**: **U1-U4** shows one whole with its explanation and photo credits, "
        "**V1-V4** makes four close to it, 🔄 four new ones. `count: one` gives a single picture.\n"
        "`chaos` (0 faithful – 1 wild), `style_strength`, `keep_colors`, `background` (keep, swap, none) "
        "shape the result; `seed` or a footer's `recipe` gives the same picture again.\n"
        "`!muse` works too: attach a file, or name a painting (`!muse the milkmaid`). React ⭐ 👍 🔥 to "
        "vote: votes steer what comes next, and `/muse-top` lists the favourites.",
        "fr": "**/muse** réinterprète un tableau : joins le tien (`image`), choisis-en un dans la collection "
        "(`painting`, avec des suggestions), ou rien pour une surprise. Chaque personnage, animal et objet "
        "est remplacé par un vrai, découpé dans une photo, repeint dans le style du tableau.\n"
        "Tu reçois **quatre études** : **U1-U4** en montre une en entier avec son explication et les "
        "crédits des photos, **V1-V4** en fait quatre proches d'elle, 🔄 quatre nouvelles. "
        "`count: une` donne une seule image.\n"
        "`chaos` (0 fidèle – 1 fou), `style_strength`, `keep_colors`, `background` (garder, changer, aucun) "
        "façonnent le résultat ; `seed` ou la `recipe` en bas d'une image redonne la même image.\n"
        "`!muse` marche aussi : joins un fichier, ou nomme un tableau (`!muse la laitière`). Réagis ⭐ 👍 🔥 "
        "pour voter : les votes orientent la suite, et `/muse-top` montre les préférées.",
    },
    "help.image_title": {"en": "/muse answers with four studies", "fr": "/muse répond par quatre études"},
    "help.image_u": {"en": "U1-U4: that one, whole", "fr": "U1-U4 : celle-là, entière"},
    "help.image_v": {"en": "V1-V4: four close to it", "fr": "V1-V4 : quatre proches"},
    "help.image_reroll": {"en": "↻: four new ones", "fr": "↻ : quatre nouvelles"},
    "help.image_recipe": {"en": "recipe: make it again", "fr": "recette : la refaire"},
    "help.image_footer": {
        "en": "Every element is a real photo, credited in the explanation.",
        "fr": "Chaque élément est une vraie photo, créditée dans l'explication.",
    },
    "daily.off": {"en": "Daily post: off.", "fr": "Tableau du jour : désactivé."},
    "daily.on": {
        "en": "Daily post: on, in <#{channel}> at {time} ({zone}), language {language}.",
        "fr": "Tableau du jour : activé, dans <#{channel}> à {time} ({zone}), en langue {language}.",
    },
    "daily.last": {
        "en": " Last post: {slot} ({painting}).",
        "fr": " Dernière publication : {slot} ({painting}).",
    },
    "daily.bad_time": {
        "en": "“{value}” is not a time like 09:30.",
        "fr": "« {value} » n'est pas une heure comme 09:30.",
    },
    "daily.bad_zone": {
        "en": "“{value}” is not a time zone like Europe/Paris.",
        "fr": "« {value} » n'est pas un fuseau horaire comme Europe/Paris.",
    },
    "votes.emoji": {"en": "Votes: {emoji}", "fr": "Votes : {emoji}"},
    "votes.default": {"en": "default", "fr": "par défaut"},
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
