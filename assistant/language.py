"""Which language a chat message is in, well enough to answer in it.

By script first (Han without kana is Chinese, kana is Japanese, Cyrillic is
Russian, ...), then, for Latin script, by the common chat words of each
language we have replies in. A guess, not a classifier: it only picks the
language of the built-in replies, and says "don't know" (None) rather than
guess English for a message in a script we have no replies for.
"""

from __future__ import annotations

import re
import unicodedata

# Languages the Latin-script word lists can tell apart; English wins a tie.
_LATIN_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "hi hello hey thanks thank you yes yeah sorry good night morning how are what where when time the is "
        "i i'm im it's ok okay see bye please can could would my me we let's lol meeting tonight tomorrow "
        "late call got did do have with for and to of".split()
    ),
    "es": frozenset(
        "hola gracias qué que cómo como dónde donde cuándo cuando sí perdón lo siento buenos buenas días "
        "noches vale estás estas está tú usted mañana hoy nos vemos por favor bien muy llamar hora el la los "
        "las y mi te me es un una jajaja ya comiste feliz cumpleaños adiós hasta luego quedamos puedes".split()
    ),
    "pt": frozenset(
        "olá ola oi obrigado obrigada tudo bem você voce não nao sim desculpa desculpe bom boa dia noite até "
        "logo amanhã amanha que horas onde quando estou tô to cadê já ja comeu parabéns tchau kkkk pode me "
        "ajudar recebeu minha mensagem a caminho".split()
    ),
    "fr": frozenset(
        "bonjour salut merci oui non désolé désolée pardon bonne nuit soir ça va comment où quand quelle heure "
        "je tu t'es vous est c'est à demain bientôt d'accord suis pas les des mdr coucou et toi moi au revoir "
        "plus mangé reçu peux aider libre".split()
    ),
    "de": frozenset(
        "hallo danke ja nein bitte entschuldigung tut mir leid gute guten nacht morgen tag wie geht's gehts "
        "wo wann bist du ich wir uhr tschüss bis später ist das und nicht schon gegessen hast kannst helfen "
        "zeit heute abend alles glückwunsch".split()
    ),
}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def _script(char: str) -> str | None:
    code = ord(char)
    if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF66 <= code <= 0xFF9D:
        return "ja"  # hiragana, katakana
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x3FFFF:
        return "han"
    if 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return "ko"
    if 0x0400 <= code <= 0x052F:
        return "ru"
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    if name.startswith("LATIN"):
        return "latin"
    for prefix, language in (("ARABIC", "ar"), ("HEBREW", "he"), ("GREEK", "el"), ("THAI", "th")):
        if name.startswith(prefix):
            return language
    return "other"


def detect_language(text: str) -> str | None:
    """The language of `text` as a short code ("en", "zh", "ja", "es", ...), or None if it has no letters.

    A message in a script with no built-in replies still gets its own code
    ("ko", "ar", ...) or "other", so that no one is offered English by default.
    """
    counts: dict[str, int] = {}
    for char in text:
        script = _script(char)
        if script is not None:
            # One Han or kana character carries about a word: weigh it like one.
            counts[script] = counts.get(script, 0) + (3 if script in ("han", "ja", "ko") else 1)
    if not counts:
        return None
    if counts.get("ja"):
        return "ja"  # Japanese mixes kana with Han; Chinese never has kana
    script = max(counts, key=lambda s: counts[s])
    if script == "han":
        return "zh"
    if script != "latin":
        return script
    words = _WORD.findall(text.casefold())
    scores = {language: sum(w in vocabulary for w in words) for language, vocabulary in _LATIN_WORDS.items()}
    if any(c in text for c in "¿¡ñ"):
        scores["es"] += 2
    if any(c in text for c in "ãõ"):
        scores["pt"] += 2
    if "ß" in text:
        scores["de"] += 2
    best = max(scores, key=lambda language: (scores[language], language == "en"))
    return best if scores[best] > 0 else "en"
