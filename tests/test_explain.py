"""The explanation's sentences in English and French, from typed swap records."""

from __future__ import annotations

from lamuse.explain import explain, french_class
from lamuse.types import Changes, SwapRecord


def _swap(name: str, class_id: int, new_class: str, box: list[int], **rest: object) -> SwapRecord:
    """A swap record with the keys the explanation does not read filled with neutral values."""
    swap: SwapRecord = {
        "class": name,
        "class_id": class_id,
        "box": box,
        "original_mask_area": 100,
        "cutout_id": "c-0",
        "cutout_class": new_class,
        "same_class": name == new_class,
        "source": "photo.jpg",
        "subject": new_class,
        "credit": "",
        "shape_distance": 0.1,
        "mask_iou": 0.8,
        "placement": {"flip": False, "rotation_deg": 0.0, "aspect_change": 1.0, "size": [10, 10]},
    }
    swap.update(rest)  # type: ignore[typeddict-item]
    return swap


def _changes(*swaps: SwapRecord) -> Changes:
    return {"swaps": list(swaps), "background": {"mode": "keep"}, "stylized": False, "style_source": ""}


def test_explanation_credits_author_and_licence_without_links() -> None:
    """Sentences name the photo's author and licence; bracketed links stay in the JSON only."""
    swap = _swap(
        "person",
        1,
        "person",
        [0, 0, 10, 10],
        subject="tennis player returning a volley",
        credit="Flickr user (photo http://farm9.example/x.jpg), CC BY 2.0",
        same_class=True,
    )
    text = explain(_changes(swap), (100, 100))
    assert "The person in the upper left is now a person from a photo of tennis player" in text
    assert "(photo: Flickr user, CC BY 2.0)" in text and "http" not in text
    french = explain(_changes(swap), (100, 100), "fr")
    assert french.startswith("La personne en haut à gauche devient la personne")


def test_explanation_of_fallbacks_in_both_languages() -> None:
    """A class missing from the library and a class-agnostic element are explained as such, in French
    without English words."""
    missing = _swap("umbrella", 28, "truck", [40, 0, 60, 20], subject="vintage truck", credit="A, CC0")
    agnostic = _swap("object", 0, "person", [40, 40, 60, 60], subject="a dancer", credit="B, CC0")
    trace = _changes(missing, agnostic)
    english = explain(trace, (100, 100))
    assert "no umbrella in the library, so chosen by shape alone" in english
    assert (
        "The shape in the centre is now a person from a photo of a dancer (chosen by its shape)" in english
    )
    french = explain(trace, (100, 100), "fr")
    assert "pas de « parapluie » dans la bibliothèque" in french and "umbrella" not in french
    assert "La forme au centre devient la personne" in french


def test_french_class_is_the_one_table() -> None:
    """Every name the explanation translates comes from `french_class`; unknown names are None."""
    assert french_class("person") == "la personne"
    # "object" is no COCO class: a class-agnostic element is worded "la forme" by the explanation itself.
    assert french_class("dining table") == "la table" and french_class("object") is None
    assert french_class("unicorn") is None
    text = explain(_changes(_swap("dog", 18, "cat", [0, 0, 10, 10], subject="a cat")), (100, 100), "fr")
    assert text.startswith("Le chien en haut à gauche devient le chat d'une photo « a cat »")


def test_a_repeated_variation_says_why_once_in_either_language() -> None:
    """A variation with an earlier one's cut-outs says, in one sentence after the swaps, why it repeats."""
    swap = _swap("bear", 23, "bear", [0, 0, 10, 10])
    plain = explain(_changes(swap), (100, 100))
    assert "repeat" not in plain
    single = _changes(swap)
    single["repeats"] = {"variation": 0, "reason": "one_cutout"}
    text = explain(single, (100, 100))
    assert text.count("The library has only one cut-out that fits here") == 1
    assert text.index("repeats an earlier one") < text.index("The original setting")
    taken = _changes(swap)
    taken["repeats"] = {"variation": 1, "reason": "all_taken"}
    assert "already took every other fitting cut-out" in explain(taken, (100, 100))
    french = explain(single, (100, 100), "fr")
    assert french.count("La bibliothèque n'a qu'une découpe qui convienne ici") == 1
