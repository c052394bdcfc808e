"""The referral reward card (推荐有奖): every base client's card code, printed on the delivery pack and the warranty
book. A new customer who gives the code is a referral credited to the card's client.

The code is the client's id, scrambled and spelled in an alphabet without the look-alikes 0/O and 1/I/L, plus a
check letter: six characters for the first 2^24 (16.7 million) clients, longer beyond. It needs no column and no
retry: two clients never share a code (the scramble is a bijection), and a mistyped letter fails the check rather
than crediting somebody else. The scrambled number is not a secret (it is printed on a card); the code is looked up
only within the lead's dealer group. No ORM here."""

from __future__ import annotations

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # 31 symbols: no 0/O, 1/I/L
BITS = 24  # the scrambled space of the five-letter body (31^5 > 2^24): 2^24 ids
_MULT = 0xB3D5A7  # odd: multiplication modulo 2^BITS is a bijection
_INV = pow(_MULT, -1, 1 << BITS)
_XOR = 0x5C3E1B


def _spell(number: int, width: int) -> str:
    base = len(ALPHABET)
    out = []
    while number or len(out) < width:
        number, digit = divmod(number, base)
        out.append(ALPHABET[digit])
    return "".join(reversed(out))


def _check(body: str) -> str:
    total = sum((i + 1) * ALPHABET.index(ch) for i, ch in enumerate(body))
    return ALPHABET[total % len(ALPHABET)]


def card_code(client_id: int) -> str:
    """The card code of the client with this id ("K7M3QX")."""
    high, low = divmod(int(client_id), 1 << BITS)
    scrambled = ((low * _MULT) & ((1 << BITS) - 1)) ^ _XOR
    body = _spell(high * (1 << BITS) + scrambled, 5)
    return body + _check(body)


def normalise(code: str) -> str:
    """What a customer or a consultant typed, as the card's letters: spaces and dashes dropped, upper case."""
    return "".join(ch for ch in (code or "").upper() if ch not in " -")


def client_id_of(code: str) -> int | None:
    """The client id a card code names, or None when it is no card code (a wrong letter, a bad check letter)."""
    text = normalise(code)
    if len(text) < 6 or any(ch not in ALPHABET for ch in text):
        return None
    body, check = text[:-1], text[-1]
    if _check(body) != check:
        return None
    number = 0
    for ch in body:
        number = number * len(ALPHABET) + ALPHABET.index(ch)
    high, scrambled = divmod(number, 1 << BITS)
    if len(body) > 5 and body[0] == ALPHABET[0]:
        return None  # a padded spelling (a leading zero digit): not one we print
    low = ((scrambled ^ _XOR) * _INV) & ((1 << BITS) - 1)
    return high * (1 << BITS) + low
