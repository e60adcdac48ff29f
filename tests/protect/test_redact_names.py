"""Names of many countries and street addresses in lowercase, ASR-style requests, and clean commands
whose words are also names or places left alone. The requests were written for these tests, not
taken from the benchmark sets or from the lexicon."""

from __future__ import annotations

import pytest

from overheard.protect.redact import find_pii, redact

NAMES_IN_COMMANDS = [
    ("call siobhan when you get a chance", "call [NAME] when you get a chance"),
    ("text giorgos that i'm outside", "text [NAME] that i'm outside"),
    ("remind mariana about the rent", "remind [NAME] about the rent"),
    ("ask takeshi to bring the charger", "ask [NAME] to bring the charger"),
    ("did priyanka send the photos", "did [NAME] send the photos"),
    ("message tomasz on whatsapp", "message [NAME] on whatsapp"),
    ("what did ayesha say about friday", "what did [NAME] say about friday"),
    ("set up lunch with ngozi on thursday", "set up lunch with [NAME] on thursday"),
    ("what's the phone number of svetlana", "what's the phone number of [NAME]"),
    ("any new emails from joaquin", "any new emails from [NAME]"),
    ("when is mehmet's birthday", "when is [NAME]'s birthday"),
    ("my boss wen jie wants the report", "my boss [NAME] wants the report"),
    ("did bill send the invoice", "did [NAME] send the invoice"),
    ("what year was steven spielberg born", "what year was [NAME] born"),
    ("tell me about the career of marie curie", "tell me about the career of [NAME]"),
]
"""Given names from Ireland, Greece, Brazil, Japan, India, Poland, Pakistan, Nigeria, Russia, Spain,
Turkey, China; word-names with a deed; full names of public figures."""

ADDRESSES = [
    ("my address is 14 elm street", "my address is [ADDRESS]"),
    ("i live at 6/170 reynolds street", "i live at [ADDRESS]"),
    ("send it to seventeen oak crossing", "send it to [ADDRESS]"),
    ("ship the order to 1200 harbor heights", "ship the order to [ADDRESS]"),
    ("navigate to 38 o'connell-walsh road", "navigate to [ADDRESS]"),
    ("my grandma lives on willow lane", "my grandma lives on [ADDRESS]"),
    ("deliver to flat 2 9 station approach", "deliver to [ADDRESS]"),
]

CLEAN_COMMANDS = [
    "will it rain tomorrow",
    "mark the date in my calendar",
    "bill me later",
    "play rose garden",
    "set an alarm for may fifth",
    "what's the weather in paris",
    "book flights to sydney for next week",
    "turn on pandora",
    "how is the traffic on sunset boulevard",
    "add milk to my shopping list",
    "what time does the train to charlotte leave",
    "tell me the latest news about india",
    "call me back in five minutes",
    "when is easter this year",
    "post to facebook that i'm home",
    "open the weather app",
    "set a timer for twenty minutes",
    "how far is it from denver to houston",
    "tell me the trains from california to new jersey",
    "call the restaurant to see if the delivery is on the way",
    "what's the exchange rate between china and japan",
    "play my podcast from where i left off",
    "i dont want to carry an umbrella",
    "check all the new emails and mark them read",
    "cancel the event valentine's day from the calendar",
    "book 2 tickets for the union station tour",
    "how long is the drive down main street",
]


@pytest.mark.parametrize(("text", "expected"), NAMES_IN_COMMANDS)
def test_names_of_many_countries_in_commands(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(("text", "expected"), ADDRESSES)
def test_street_addresses(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", CLEAN_COMMANDS)
def test_clean_commands_with_name_like_words_stay_untouched(text: str) -> None:
    assert find_pii(text) == []
