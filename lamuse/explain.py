"""Say in plain words what a reinterpretation changed and where each new element came from (en, fr)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from lamuse.types import Changes, Language, SwapRecord

_FRENCH_CLASSES: Mapping[str, str] = {
    "person": "la personne", "bicycle": "le vélo", "car": "la voiture", "motorcycle": "la moto",
    "airplane": "l'avion", "bus": "le bus", "train": "le train", "truck": "le camion", "boat": "le bateau",
    "traffic light": "le feu", "fire hydrant": "la borne d'incendie", "stop sign": "le panneau stop",
    "parking meter": "le parcmètre", "bench": "le banc", "bird": "l'oiseau", "cat": "le chat",
    "dog": "le chien", "horse": "le cheval", "sheep": "le mouton", "cow": "la vache",
    "elephant": "l'éléphant", "bear": "l'ours", "zebra": "le zèbre", "giraffe": "la girafe",
    "backpack": "le sac à dos", "umbrella": "le parapluie", "handbag": "le sac", "tie": "la cravate",
    "suitcase": "la valise", "frisbee": "le frisbee", "skis": "les skis", "snowboard": "le snowboard",
    "sports ball": "le ballon", "kite": "le cerf-volant", "baseball bat": "la batte",
    "baseball glove": "le gant", "skateboard": "le skateboard", "surfboard": "la planche de surf",
    "tennis racket": "la raquette", "bottle": "la bouteille", "wine glass": "le verre à vin",
    "cup": "la tasse", "fork": "la fourchette", "knife": "le couteau", "spoon": "la cuillère",
    "bowl": "le bol", "banana": "la banane", "apple": "la pomme", "sandwich": "le sandwich",
    "orange": "l'orange", "broccoli": "le brocoli", "carrot": "la carotte", "hot dog": "le hot-dog",
    "pizza": "la pizza", "donut": "le beignet", "cake": "le gâteau", "chair": "la chaise",
    "couch": "le canapé", "potted plant": "la plante", "bed": "le lit", "dining table": "la table",
    "toilet": "les toilettes", "tv": "la télévision", "laptop": "l'ordinateur portable",
    "mouse": "la souris", "remote": "la télécommande", "keyboard": "le clavier",
    "cell phone": "le téléphone", "microwave": "le micro-ondes", "oven": "le four",
    "toaster": "le grille-pain", "sink": "l'évier", "refrigerator": "le réfrigérateur", "book": "le livre",
    "clock": "l'horloge", "vase": "le vase", "scissors": "les ciseaux", "teddy bear": "l'ours en peluche",
    "hair drier": "le sèche-cheveux", "toothbrush": "la brosse à dents",
}  # fmt: skip


def french_class(name: str) -> str | None:
    """A COCO class name in French with its article ("person" → "la personne"); None if unknown."""
    return _FRENCH_CLASSES.get(name)


def position_words(box: Sequence[float], size: tuple[int, int], language: Language) -> str:
    """Where a box sits in the picture: "on the left", "in the upper centre"... / "à gauche"..."""
    width, height = size
    cx = (box[0] + box[2]) / 2 / width
    cy = (box[1] + box[3]) / 2 / height
    column = 0 if cx < 0.38 else (2 if cx > 0.62 else 1)
    row = 0 if cy < 0.3 else (2 if cy > 0.7 else 1)
    if language == "fr":
        horizontal = ("à gauche", "au centre", "à droite")[column]
        vertical = ("en haut", "", "en bas")[row]
        return f"{vertical} {horizontal}".strip()
    if row == 1:
        return ("on the left", "in the centre", "on the right")[column]
    return f"in the {('upper', '', 'lower')[row]} {('left', 'centre', 'right')[column]}"


def _article_en(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _short_credit(credit: str) -> str:
    """Drop bracketed links from a credit: the sentence names author and licence, the JSON keeps all."""
    return re.sub(r"\s*\((?:photo )?https?://[^)]*\)", "", credit).strip() or "source unknown"


def describe_swap(swap: SwapRecord, size: tuple[int, int], language: Language) -> str:
    """One sentence for one swap, e.g. "The person on the left is now a tennis player (photo: …)"."""
    where = position_words(swap["box"], size, language)
    original = swap["class"]
    new_class = swap["cutout_class"]
    subject = swap.get("subject") or new_class
    # A CC BY credit keeps its source and licence links; other credits name author and licence only.
    credit = str(swap["credit"]) if swap.get("licence_url") else _short_credit(str(swap.get("credit") or ""))
    class_agnostic = swap.get("class_id") == 0
    policy = swap.get("whole_policy")
    if language == "fr":
        noun = "la forme" if class_agnostic else (french_class(original) or original)
        new = french_class(new_class) or new_class
        text = f"{noun[0].upper()}{noun[1:]} {where} devient {new} d'une photo « {subject} »"
        if swap.get("theme_reason"):
            text += f" ({swap['theme_reason']})"
        elif class_agnostic:
            text += " (choisi pour sa silhouette)"
        elif not swap.get("same_class", True):
            bare = re.sub(r"^(le |la |les |l')", "", noun)
            entier = " entier" if policy == "other_class_whole" else ""
            text += f" (pas de « {bare} »{entier} dans la bibliothèque : choisi pour sa silhouette)"
        elif policy == "frame_cut_only":
            text += " (seules des photos coupées par le cadre existent)"
        return f"{text} (photo : {credit})."
    noun = "shape" if class_agnostic else original
    text = f"The {noun} {where} is now {_article_en(new_class)} from a photo of {subject}"
    if swap.get("theme_reason"):
        text += f" ({swap['theme_reason']})"
    elif class_agnostic:
        text += " (chosen by its shape)"
    elif not swap.get("same_class", True):
        whole = "whole " if policy == "other_class_whole" else ""
        text += f" (no {whole}{original} in the library, so chosen by shape alone)"
    elif policy == "frame_cut_only":
        text += " (the library only has it cut by its photo's frame)"
    return f"{text} (photo: {credit})."


_REPEATS: Mapping[tuple[Language, str], str] = {
    ("en", "one_cutout"): "The library has only one cut-out that fits here, so this variation repeats an "
    "earlier one.",
    ("en", "all_taken"): "The earlier variations already took every other fitting cut-out, so this one "
    "repeats one of them.",
    ("fr", "one_cutout"): "La bibliothèque n'a qu'une découpe qui convienne ici : cette variation en répète "
    "une précédente.",
    ("fr", "all_taken"): "Les variations précédentes ont déjà pris les autres découpes qui conviennent : "
    "celle-ci répète l'une d'elles.",
}


def _repeat_sentence(trace: Changes, language: Language) -> str:
    """Why this variation has the same cut-outs as an earlier one ("" when it does not)."""
    repeats = trace.get("repeats")
    return "" if repeats is None else _REPEATS[(language, repeats["reason"])]


def explain(trace: Changes, size: tuple[int, int], language: Language = "en") -> str:
    """A short paragraph: every swap, the background, and the style pass."""
    sentences = [describe_swap(s, size, language) for s in trace.get("swaps", [])]
    if not sentences:
        sentences.append(
            "Aucun élément n'a été trouvé à remplacer."
            if language == "fr"
            else "No element was found to swap."
        )
    repeat = _repeat_sentence(trace, language)
    if repeat:
        sentences.append(repeat)
    # Only when the shapes came from the salient fallback: curated masks need no detector.
    shapes = any(swap.get("class_id") == 0 for swap in trace.get("swaps", []))
    if trace.get("detector_available") is False and shapes:
        sentences.insert(
            0,
            "Aucun détecteur d'objets n'était disponible : les formes principales du tableau ont été "
            "découpées d'après ce qui ressort, et chacune remplacée d'après sa silhouette seule."
            if language == "fr"
            else "No object detector was available, so the painting's main shapes were cut apart by "
            "what stands out, and each was replaced by its silhouette alone.",
        )
    background = trace.get("background", {})
    mode = background.get("mode")
    if language == "fr":
        sentences.append(
            {
                "keep": "Le décor d'origine est conservé, repeint là où se tenaient les éléments.",
                "swap": f"La scène se passe désormais devant « {background.get('source', '')} ».",
                "none": "Les éléments posent sur une toile unie.",
            }.get(str(mode), "")
        )
        if trace.get("stylized"):
            sentences.append(f"Le tout est repeint dans le style de « {trace.get('style_source', '')} ».")
    else:
        sentences.append(
            {
                "keep": "The original setting is kept, repainted where the old elements stood.",
                "swap": f"The scene now takes place in front of “{background.get('source', '')}”.",
                "none": "The elements stand on a plain canvas.",
            }.get(str(mode), "")
        )
        if trace.get("stylized"):
            sentences.append(f"Everything is re-painted in the style of “{trace.get('style_source', '')}”.")
    return " ".join(s for s in sentences if s)
