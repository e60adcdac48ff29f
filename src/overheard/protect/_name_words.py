"""The closed word classes the name rules read context from: relations, titles, contact and
handing verbs, personal nouns, platforms, peoples… (the rules are in ``_names.py``)."""

from __future__ import annotations

from overheard.protect._lexicon import HOLIDAYS, MONTHS, WEEKDAYS, words
from overheard.protect._recognizers import (
    ACCOUNT_WORDS,
    CARD_WORDS,
    DOB_WORDS,
    PHONE_WORDS,
    ZIP_WORDS,
)

RELATIONS = words(
    """
    sister brother mum mom mother dad father friend wife husband son daughter aunt auntie aunty
    uncle cousin boss colleague coworker grandma grandpa granny grandad grandmother grandfather
    nan nana nanna gran partner boyfriend girlfriend neighbour neighbor niece nephew teacher
    flatmate roommate fiance fiancee manager stepmum stepdad stepmom
    """
)
TITLES = words(
    "mr mrs ms miss mx dr doctor prof professor sir dame lady lord rev reverend principal coach"
    " prince princess"
)
CONTACT_VERBS = words(
    """
    call ring phone text message email e-mail tell ask remind invite facetime whatsapp skype ping
    dm pay contact meet thank congratulate wish i'm im reply speak spoke talk talked chat chatted
    respond responded notify inform
    """
)
"""Verbs whose object is usually a person: a lexicon name right after one is a name."""
CONTACT_NOUNS = words(
    "call calls message messages text texts email emails meeting chat lunch dinner coffee"
    " voicemail voicemails mail mails reply replies update updates contact contacts post posts"
)
HANDING_VERBS = words(
    "send sent give gave given giving forward forwarded show showed shown lend lent owe transfer"
)
"""``send money to``, ``give it to``: the ``to`` that follows points at a person."""
SECOND_OBJECT_STARTS = words("a an the my this that it some these those his her their our your")
"""After ``send/give/show X``: the thing handed, so X is who it goes to."""
LINK_WORDS = words("with for about and by")
"""Words before a name in ``lunch with``, ``a present for``, ``jack and``, ``songs by``."""
PLACE_WORDS = words("to in near from at of around towards into")
"""Before these a census first name is more likely a place (``flights to sydney``)."""
PLATFORMS = words(
    "facebook instagram twitter youtube whatsapp linkedin tiktok snapchat gmail outlook"
    " weibo wechat baidu taobao douyin"
)
"""Where people post and message: the object of ``post to`` or ``updates from``, not a person."""
STREAMING = words(
    "pandora spotify deezer tidal soundcloud netflix hulu audible iheartradio tunein napster"
)
"""What people play from: given names in some lists (``pandora``), never a person in a request."""
REGIONS = words(
    """
    america americas europe asia africa oceania antarctica arctic scandinavia caribbean
    american african asian european irish english scottish welsh british french german spanish
    italian dutch swiss greek polish russian chinese japanese korean indian pakistani mexican
    canadian australian brazilian filipino philippine thai vietnamese turkish arab arabic
    persian israeli egyptian nigerian kenyan
    """
)
"""Continents and peoples (``news about america``, ``the nearest irish pub``): census given names
or surnames some of them, but capitalised proper words the dictionary leaves out."""
ASSISTANT_NAMES = words(
    "alexa siri olly cortana bixby mycroft jarvis google computer echo xiaomi huawei xiaoai"
)
"""What people call their assistant, and the makers of Chinese assistants (two pinyin syllables,
as given names are): never a person in a request."""
NEVER_NAMES = (
    ASSISTANT_NAMES
    | CARD_WORDS
    | ACCOUNT_WORDS
    | PHONE_WORDS
    | DOB_WORDS
    | ZIP_WORDS
    | words("iban bic swift pin email e-mail postcode inbox")
    | PLATFORMS
    | STREAMING
)
"""Words the other recognizers key on (``my iban is``): a given name somewhere, never here."""
PLACE_HEADS = words("los las san santa new north south east west saint st port fort lake mount")
"""``los angeles``, ``north dakota``, ``st pete``: the word after one of these is a place."""
PERSONAL_NOUNS = words(
    """
    birthday bday flight house home place party number phone mobile email e-mail address wedding
    anniversary car mum mom dad wife husband kids school office room message messages text call
    appointment funeral graduation recital facebook instagram twitter feed profile children
    son daughter posts photos pictures youtube tiktok linkedin snapchat whatsapp cell cellphone
    """
)
"""``xiaoming's birthday``: after a possessive, these point at a person."""
POSSESSED_NOUNS = PERSONAL_NOUNS | words(
    "contact contacts information info details podcast channel account page schedule calendar"
    " gift present marriage location favorite favourite status"
)
"""``derek's contact information``, ``adele's podcast``: owned by a person, not by ``of`` one."""
OWNED_NOUNS = PERSONAL_NOUNS | words(
    """
    id contact details spouse age birthdate movies songs films books photo picture post updates
    mother father brother sister story biography life death career mail mails emails
    """
)
"""``the number of john``, ``the wife of obama``: after ``of`` following these, a person."""
WORK_NOUNS = words(
    """
    music show shows song songs album albums playlist radio station podcast book books movie
    movies film films video videos news concert tickets tour band
    """
)
"""``santana music``, ``the bob and tom show``: census surnames too, but here what a person made."""
BARE_OWNED = words(
    "birthday bday phone mobile number email address house home office wedding party pager cell"
    " cellphone"
)
"""After a given name plus ``s`` with no apostrophe (``johns number``): a possessive."""
NAME_PARTICLES = words(
    "bin binti bint ibn ben van von der den ter de del della di da dos das du al el"
)
"""``ahmed bin salem``, ``ludwig van beethoven``, ``nguyen van thanh``: the small words inside a
full name; part of the name only between two name parts."""
SHOP_FOLLOWERS = words(
    """
    steakhouse restaurant diner cafe grill pizza pizzeria bistro deli bakery takeaway takeout
    do does deliver delivers open opens close closes serve serves sell sells
    """
)
"""``charley's steakhouse``, ``does louie's do take out``, ``is luigi's open``: a possessive before
an eatery word or a shop's verb names a business, not a person (``jenny's coming`` is a person:
``'s`` is ``is`` there)."""
LIFE_EVENTS = words("birthday bday wedding marriage anniversary graduation funeral")
"""``rahul marriage reminder``, ``ngozi birthday``: a word in no list right before one of these,
with or without a possessive, is whose event it is."""
MESSAGE_NOUNS = words("email e-mail mail message text note reply")
"""Not ``tweet``: tweets go to brands (``tweet to mcdonalds saying``)."""
SAYING_STARTS = words("that saying telling asking i we about")
"""``send email to cat that``: what the message says starts with one of these."""
MEDIA_VERBS = words("open launch start play stream")
"""``open pandora``, ``play thor``: without a person cue the word after these is an app or a title."""
PERSON_VERBS = words(
    """
    say says said send sends sent call calls called text texts texted message messaged reply
    replies replied ask asks asked email emails emailed want wants wanted married born died
    """
)
"""``did oluwaseun send``, ``was einstein married``: a word that is not English before these is a
person."""
DEED_VERBS = PERSON_VERBS | words("post posted live lives work works come coming")
"""After ``did/does`` and a name that is also a word: ``did mark post``, ``does bob live``."""
VERB_OBJECTS = words(
    "a an the my your his our their this these those it if me you him us them whether"
)
"""``to see if``, ``and mark the date``: a word-name followed by these is a verb taking its object."""
AUXILIARIES = words("did does do has have is was will would can could should")
"""``did mark post``, ``does bob live``: before a name that is also a word and a person verb."""
INTRODUCERS = (
    ("my", "name", "is"),
    ("name", "is"),
    ("named",),
    ("this", "is"),
    ("i", "am"),
    ("recipient",),
    ("recipient", "is"),
)
INTRODUCER_ENDS = frozenset(p[-1] for p in INTRODUCERS)
CALENDAR_WORDS = MONTHS | WEEKDAYS | HOLIDAYS
SUBJECT_MODIFIERS = words(
    """
    still ever even really always never already also usually actually currently sometimes often
    favorite favourite fav alive dead
    """
)
"""``is elvis still alive``, ``what is elvis favorite ride``: adverbs and the adjectives that follow
a person's name in a question; census surnames some of them (``still``), never one here."""
