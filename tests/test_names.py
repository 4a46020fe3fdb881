from __future__ import annotations

from features.names import fold_token, name_tokens, normalise, order_free_key


def test_case_diacritics_and_punctuation_vanish() -> None:
    assert name_tokens("Müller Präzisions-Technik GmbH") == ("muller", "prazisions", "technik")
    assert normalise("Forces Démocratiques") == normalise("FORCES DEMOCRATIQUES")


def test_common_scripts_are_transliterated() -> None:
    assert name_tokens("Алексей Навальный") == ("aleksey", "navalnyy")
    assert name_tokens("Ελληνικά") == ("ellinika",)


def test_legal_forms_are_dropped_however_written() -> None:
    assert name_tokens("ANGLO-CARIBBEAN CO., LTD.") == ("anglo", "caribbean")
    assert name_tokens("OOO Romashka") == ("romashka",)
    assert name_tokens("Baltic Tools Sp. z o.o.") == ("baltic", "tools")
    assert name_tokens("Acme Limited Liability Company") == ("acme",)
    assert name_tokens("Acme L.L.C.") == name_tokens("ACME LLC") == ("acme",)


def test_shortened_legal_phrases_are_dropped_too() -> None:
    listed = name_tokens("OPEN JOINT STOCK COMPANY INVESTCAPITALBANK")
    assert listed == ("investcapitalbank",)
    assert name_tokens("Open Joint Stock Co Investcapitalbank") == listed
    assert name_tokens("Oboronlogistics Ltd Liability Company") == ("oboronlogistics",)
    assert name_tokens("Letia limited liability co") == ("letia",)


def test_trade_words_shortened_by_filers_read_as_the_whole_word() -> None:
    assert name_tokens("Namchongang Trdg Corporation") == name_tokens("NAMCHONGANG TRADING")
    assert name_tokens("KOREA RYONHA MACH JV CORP") == name_tokens(
        "Korea Ryonha Machinery Joint Venture Corporation"
    )
    assert name_tokens("Korea Int'L Chem Jv Co") == name_tokens(
        "KOREA INTERNATIONAL CHEMICAL JOINT VENTURE"
    )
    assert name_tokens("Bandar Imam Petrochem Co") == name_tokens(
        "BANDAR IMAM PETROCHEMICAL COMPANY"
    )
    # A short form that stands for more than one word is left as written.
    assert name_tokens("Ind Inst Supplies") == ("ind", "inst", "supplies")


def test_a_slipped_closing_legal_form_is_still_a_legal_form() -> None:
    assert name_tokens("Namchongang Trdg Orp") == name_tokens("NAMCHONGANG TRADING")
    assert (
        name_tokens("Acme Trading Ldt") == name_tokens("Acme Trading Ltdd") == ("acme", "trading")
    )
    # A changed letter makes a word, and a two-word name keeps its last word.
    assert name_tokens("Bright Star Led") == ("bright", "star", "led")
    assert name_tokens("Sun Orp") == ("sun", "orp")


def test_a_name_of_legal_words_only_keeps_them() -> None:
    assert name_tokens("Co Ltd") == ("co", "ltd")


def test_arabic_articles_are_glued_so_spacing_cannot_matter() -> None:
    assert name_tokens("AL-QAIDA") == name_tokens("Al Qaida") == name_tokens("Alqaida")
    assert name_tokens("Jamiat ul Turath") == ("jamiat", "ulturath")


def test_order_free_key_ignores_word_order_and_form() -> None:
    assert order_free_key("HABASH, George") == order_free_key("george habash")
    assert order_free_key("Taher Anwari") != order_free_key("Tahir Anwari")


def test_fold_brings_romanisation_variants_together() -> None:
    assert fold_token("taher") == fold_token("tahir")
    assert fold_token("qaeda") == fold_token("kaida")
    assert fold_token("mohammed") != fold_token("muhammad")
    assert fold_token("habbash") == fold_token("habash")


def test_blank_name_has_no_tokens() -> None:
    assert name_tokens("  -- ") == ()
