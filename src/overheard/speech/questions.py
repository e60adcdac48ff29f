"""What a device says about a voice deletion that waits for a spoken yes.

Kept apart from the guard (:mod:`overheard.speech.guard`), which decides when to ask, so that the
device API can hand these words to a device without loading the speech models' dependencies.
"""

from __future__ import annotations

QUESTION = {
    "delete_last": "Delete your last recording? Say yes to confirm.",
    "delete_today": "Delete everything you said today? Say yes to confirm.",
}
"""What the device says when a deletion waits for a spoken yes, per command."""
REASK = {
    "delete_last": "Sorry, I did not catch that. Say yes please to delete your last recording.",
    "delete_today": "Sorry, I did not catch that. Say yes please to delete everything you said "
    "today.",
}
"""What the device says, once, when the answer to :data:`QUESTION` was unclear
(:func:`overheard.speech.guard.answer_of`): it names the deletion again, since whoever answers may
not have heard the question."""
DECLINED = {
    "delete_last": "Okay, nothing was deleted.",
    "delete_today": "Okay, nothing was deleted.",
}
"""What the device says, once, when the answer to :data:`QUESTION` or :data:`REASK` was a clear no
(:data:`overheard.speech.guard.REFUSING_ANSWERS`): the deletion is dropped for good, and whoever
answered hears that nothing was deleted."""
TOO_LATE = {
    "delete_last": "Sorry, your last recording was already deleted.",
    "delete_today": "Sorry, what you said today was already deleted.",
}
"""What the device says, once, when a clear no came after a yes whose deletion had already started
or finished (:func:`overheard.recordings.voice_delete.decline`): nothing can be undone any more, and
the device does not pretend otherwise."""
