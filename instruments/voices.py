"""Voice allocation for the polyphonic synth: MIDI events in, voice state (struct of arrays) changed.

A :class:`VoicePool` holds the voice state that :func:`dsp.kernels.synth.render_voices` renders, laid out
as that module describes (a note slot owns ``UNISON_MAX`` columns, one per unison voice), plus
per-channel state (pitch bend, sustain pedal) and the stack of held keys. Call :meth:`VoicePool.prepare`
once, then :meth:`VoicePool.handle` for each MIDI event at its sample (between two renders), and
:meth:`VoicePool.reset` to silence everything. All event logic is Numba code over the arrays, so handling
an event allocates nothing. The synth parameters an event needs (voice mode, unison, glide, stealing,
velocity) are read from the kernel's ``values`` array as they stand at the event's sample.

Policies (what a player hears):

- Poly mode: a note-on takes a free slot. With none free it steals one: among releasing voices first,
  then voices held only by the sustain pedal, then voices whose key is down, the oldest (``steal_policy``
  0) or the quietest at that moment (1). The stolen voice is not cut: its whole state moves to one of
  ``max(max_voices, MIN_TAILS)`` extra *tail* slots, where it fades out linearly over ``steal_fade_ms``
  (3 ms) while the new note starts in the freed slot at the exact sample of its note-on. A hard cut
  would step the output by the voice's amplitude (a click); the fade limits the step to the voice's
  amplitude divided by the fade length (when every tail is busy, the quieter of the stolen voice and
  the quietest tail is the one cut). Tails are not counted as voices (:meth:`VoicePool.active_count`),
  so at most ``max_voices`` notes play; a fade in progress may sound for its 3 ms on top. With
  ``glide_poly`` on, each new note glides from the pitch of the note played before it.
- The same (channel, note) struck again while it still sounds starts a new voice and releases the old
  one, which fades out through its own release: repeated notes do not stack up, and nothing is cut.
- Mono and legato modes play one note (slot 0, with its unison voices) with last-note priority: keys
  held down are kept on a stack, and releasing the sounding key returns to the most recent key still
  held (glide included). Mono retriggers both envelopes at every new note, from their present level (no
  click); legato retriggers only when no key was held, so overlapping notes keep the envelopes running
  and only the pitch moves. Mono glides whenever the voice still sounds; legato glides between
  overlapping notes. A glide lasts ``glide_ms`` whatever the interval (linear in pitch).
- Note-off (or note-on with velocity 0) releases every voice of that (channel, note) whose key is down,
  unless the channel's sustain pedal (CC64 >= 64) is down: then they are marked held and released when
  the pedal goes up.
- CC120 all-sound-off silences the channel's voices (tails too) at once. CC123 all-notes-off acts as a
  note-off for every key of the channel (the sustain pedal still holds them, as MIDI 1.0 says). CC121
  reset-all-controllers centres the pitch bend and lifts the pedal.
- Pitch bend moves every voice of the channel by up to ``pitch_bend_range_semitones`` (default 2).
- Velocity gain: ``1 - s + s * (velocity / 127) ** 2`` for velocity sensitivity ``s`` (square law, about
  84 dB from velocity 1 to 127 at full sensitivity). Unison voices of a note share ``1 / sqrt(voices)``
  of it, so unison thickens a note without making it much louder.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dsp.kernels.synth import (
    F_AMP,
    F_ENV,
    F_FADE,
    F_GLIDE,
    F_GLIDE_T,
    F_LFO_PHASE,
    F_NOISE,
    F_PHASE,
    F_PHASE2,
    F_PITCH,
    F_SEED,
    F_UNORM,
    F_UPOS,
    F_VEL,
    G_HAS_LAST,
    G_LAST_PITCH,
    G_UNISON_USED,
    I_CHANNEL,
    I_DIRTY,
    I_HELD,
    I_NOTE,
    I_RETRIGGER,
    I_SERIAL,
    I_STAGE,
    MODE_LEGATO,
    MODE_POLY,
    NUM_F_ROWS,
    NUM_G_ROWS,
    NUM_I_ROWS,
    P_GLIDE_MS,
    P_GLIDE_POLY,
    P_STEAL_POLICY,
    P_UNISON_VOICES,
    P_VELOCITY_SENSITIVITY,
    P_VOICE_MODE,
    STAGE_ATTACK,
    STAGE_DECAY,
    STAGE_FADE,
    STAGE_IDLE,
    STAGE_RELEASE,
    STAGE_SUSTAIN,
    STEAL_QUIETEST,
    UNISON_MAX,
    VOICE_PARAMS,
)
from engine.events import CONTROL_CHANGE, NOTE_OFF, NOTE_ON, PITCH_BEND

__all__ = ["NUM_CHANNELS", "STACK_SIZE", "VoicePool", "apply_midi_event", "velocity_gain"]

NUM_CHANNELS = 16
CH_BEND = 0  # rows of the channel state: pitch bend in semitones, sustain pedal down (0 or 1)
CH_PEDAL = 1

CC_SUSTAIN = 64
CC_ALL_SOUND_OFF = 120
CC_RESET_ALL_CONTROLLERS = 121
CC_ALL_NOTES_OFF = 123

STACK_SIZE = 128  # keys held at once that mono mode remembers (the oldest is forgotten beyond this)
K_SERIAL = 0  # rows of the counters array: note-on counter, keys on the stack
K_STACK = 1
S_CHANNEL, S_NOTE, S_VELOCITY = 0, 1, 2  # rows of the key stack
GOLDEN = 0.6180339887498949  # unison start phases spread without a pattern


@njit(cache=True, nogil=True)
def velocity_gain(velocity, sensitivity):
    """Amplitude for a MIDI velocity 1..127 at a velocity sensitivity 0..1 (square law)."""
    v = velocity / 127.0
    return 1.0 - sensitivity + sensitivity * v * v


@njit(cache=True, nogil=True)
def _gated(stage):
    return stage == STAGE_ATTACK or stage == STAGE_DECAY or stage == STAGE_SUSTAIN


@njit(cache=True, nogil=True)
def _slots(ist):
    return ist.shape[1] // UNISON_MAX


# -- the key stack (mono last-note priority) --------------------------------------------------------------
@njit(cache=True, nogil=True)
def _stack_remove(stack, counters, ch, note):
    n = counters[K_STACK]
    k = 0
    for i in range(n):
        if stack[S_CHANNEL, i] == ch and (note < 0 or stack[S_NOTE, i] == note):
            continue
        for r in range(3):
            stack[r, k] = stack[r, i]
        k += 1
    counters[K_STACK] = k


@njit(cache=True, nogil=True)
def _stack_push(stack, counters, ch, note, velocity):
    _stack_remove(stack, counters, ch, note)
    n = counters[K_STACK]
    if n == STACK_SIZE:
        for i in range(n - 1):
            for r in range(3):
                stack[r, i] = stack[r, i + 1]
        n -= 1
    stack[S_CHANNEL, n] = ch
    stack[S_NOTE, n] = note
    stack[S_VELOCITY, n] = velocity
    counters[K_STACK] = n + 1


# -- slots -------------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _level(fst, s):
    return fst[F_ENV, s] * fst[F_AMP, s]


@njit(cache=True, nogil=True)
def _steal_candidate(fst, ist, max_voices, quietest):
    # rank: releasing (0), held by the pedal only (1), key down (2); within a rank the oldest or the
    # quietest (ties: the oldest)
    best = 0
    best_rank = 3
    best_serial = 0
    best_level = np.inf
    for s in range(max_voices):
        stage = ist[I_STAGE, s]
        if stage == STAGE_RELEASE:
            rank = 0
        elif ist[I_HELD, s] != 0:
            rank = 1
        else:
            rank = 2
        serial = ist[I_SERIAL, s]
        level = _level(fst, s) if quietest else 0.0
        better = rank < best_rank
        if rank == best_rank:
            if quietest and level != best_level:
                better = level < best_level
            else:
                better = serial < best_serial
        if better:
            best = s
            best_rank = rank
            best_serial = serial
            best_level = level
    return best


@njit(cache=True, nogil=True)
def _move_to_tail(fst, ist, s, max_voices, fade_samples):
    # copy slot s into a tail slot that fades it out; an idle tail, else the quietest one, unless the
    # stolen voice is quieter still: then cutting it is the smaller step
    env = fst[F_ENV, s]
    if env <= 0.0:
        return
    slots = _slots(ist)
    t = max_voices
    quietest = np.inf
    idle = False
    for q in range(max_voices, slots):
        if ist[I_STAGE, q] == STAGE_IDLE:
            t = q
            idle = True
            break
        if fst[F_ENV, q] < quietest:
            quietest = fst[F_ENV, q]
            t = q
    if not idle and env <= quietest:
        return
    for u in range(UNISON_MAX):
        src = u * slots + s
        dst = u * slots + t
        for r in range(fst.shape[0]):
            fst[r, dst] = fst[r, src]
        for r in range(ist.shape[0]):
            ist[r, dst] = ist[r, src]
        if ist[I_STAGE, dst] != STAGE_IDLE:
            ist[I_STAGE, dst] = STAGE_FADE
            ist[I_HELD, dst] = 0
            fst[F_FADE, dst] = fst[F_ENV, dst] / fade_samples


@njit(cache=True, nogil=True)
def _start_slot(fst, ist, chan, counters, glob, values, s, ch, note, velocity, glide_from, glide):
    # a new note in slot s: `unison_voices` columns from their note-on state, the others idle
    slots = _slots(ist)
    voices = min(max(int(values[P_UNISON_VOICES]), 1), UNISON_MAX)
    norm = 1.0 / math.sqrt(voices)
    pitch = note + chan[CH_BEND, ch]
    serial = counters[K_SERIAL]
    for u in range(UNISON_MAX):
        c = u * slots + s
        for r in range(fst.shape[0]):
            fst[r, c] = 0.0
        for r in range(ist.shape[0]):
            ist[r, c] = 0
        if u >= voices:
            continue
        fst[F_PITCH, c] = pitch
        fst[F_UNORM, c] = norm
        fst[F_AMP, c] = velocity_gain(velocity, values[P_VELOCITY_SENSITIVITY]) * norm
        fst[F_VEL, c] = velocity / 127.0
        fst[F_UPOS, c] = 2.0 * u / (voices - 1) - 1.0 if voices > 1 else 0.0
        # unison voices start at scattered phases: in phase they would swell from one loud onset
        phase = (u * GOLDEN) % 1.0
        fst[F_PHASE, c] = phase
        fst[F_PHASE2, c] = phase
        fst[F_NOISE, c] = float(((serial * UNISON_MAX + u) % 2147483646) * 48271 % 2147483646 + 1)
        fst[F_SEED, c] = float(serial)
        if glide:
            fst[F_GLIDE, c] = glide_from - pitch
        ist[I_STAGE, c] = STAGE_ATTACK
        ist[I_CHANNEL, c] = ch
        ist[I_NOTE, c] = note
        ist[I_SERIAL, c] = serial
        ist[I_DIRTY, c] = 1
    counters[K_SERIAL] = serial + 1
    glob[G_UNISON_USED] = max(glob[G_UNISON_USED], float(voices))
    glob[G_LAST_PITCH] = pitch
    glob[G_HAS_LAST] = 1.0


@njit(cache=True, nogil=True)
def _release_slot(ist, s, pedal):
    slots = _slots(ist)
    for u in range(UNISON_MAX):
        c = u * slots + s
        if _gated(ist[I_STAGE, c]) and ist[I_HELD, c] == 0:
            if pedal:
                ist[I_HELD, c] = 1
            else:
                ist[I_STAGE, c] = STAGE_RELEASE


@njit(cache=True, nogil=True)
def _note_on_poly(fst, ist, chan, counters, glob, values, max_voices, ch, note, velocity, fade_samples):
    v = -1
    for s in range(max_voices):
        stage = ist[I_STAGE, s]
        if stage == STAGE_IDLE:
            if v < 0:
                v = s
        elif ist[I_CHANNEL, s] == ch and ist[I_NOTE, s] == note and stage != STAGE_RELEASE:
            slots = _slots(ist)
            for u in range(UNISON_MAX):  # retriggered: the old voice rings out
                c = u * slots + s
                if ist[I_STAGE, c] != STAGE_IDLE:
                    ist[I_STAGE, c] = STAGE_RELEASE
                    ist[I_HELD, c] = 0
    if v < 0:
        v = _steal_candidate(fst, ist, max_voices, int(values[P_STEAL_POLICY]) == STEAL_QUIETEST)
        _move_to_tail(fst, ist, v, max_voices, fade_samples)
    glide = values[P_GLIDE_POLY] >= 0.5 and glob[G_HAS_LAST] != 0.0
    _start_slot(fst, ist, chan, counters, glob, values, v, ch, note, velocity, glob[G_LAST_PITCH], glide)


@njit(cache=True, nogil=True)
def _move_pitch(fst, ist, chan, values, sample_rate, ch, note, glide):
    # slot 0 plays `note` now: from where its pitch is (a glide in progress included) when gliding
    slots = _slots(ist)
    glide_samples = values[P_GLIDE_MS] * 0.001 * sample_rate
    pitch = note + chan[CH_BEND, ch]
    for u in range(UNISON_MAX):
        c = u * slots
        if ist[I_STAGE, c] == STAGE_IDLE:
            continue
        if glide:
            now = fst[F_PITCH, c]
            t = fst[F_GLIDE_T, c]
            if fst[F_GLIDE, c] != 0.0 and glide_samples >= 1.0 and t < glide_samples:
                now += fst[F_GLIDE, c] * (1.0 - t / glide_samples)
            fst[F_GLIDE, c] = now - pitch
        else:
            fst[F_GLIDE, c] = 0.0
        fst[F_GLIDE_T, c] = 0.0
        fst[F_PITCH, c] = pitch
        ist[I_NOTE, c] = note
        ist[I_CHANNEL, c] = ch
        ist[I_HELD, c] = 0
        ist[I_DIRTY, c] = 1
    return pitch


@njit(cache=True, nogil=True)
def _retrigger(fst, ist, values, velocity):
    # both envelopes restart their attack from the present level; the amplitude envelope is rescaled
    # so a new velocity does not step the output
    slots = _slots(ist)
    for u in range(UNISON_MAX):
        c = u * slots
        if ist[I_STAGE, c] == STAGE_IDLE:
            continue
        old = fst[F_AMP, c]
        new = velocity_gain(velocity, values[P_VELOCITY_SENSITIVITY]) * fst[F_UNORM, c]
        if new > 0.0:
            fst[F_ENV, c] = min(1.0, fst[F_ENV, c] * old / new)
        fst[F_AMP, c] = new
        fst[F_VEL, c] = velocity / 127.0
        fst[F_LFO_PHASE, c] = 0.0
        ist[I_STAGE, c] = STAGE_ATTACK
        ist[I_RETRIGGER, c] = 1


@njit(cache=True, nogil=True)
def _note_on_mono(fst, ist, chan, counters, stack, glob, values, sample_rate, ch, note, velocity):
    legato = int(values[P_VOICE_MODE]) == MODE_LEGATO
    held = counters[K_STACK] > 0  # another key was down
    _stack_push(stack, counters, ch, note, velocity)
    stage = ist[I_STAGE, 0]
    if stage == STAGE_IDLE or stage == STAGE_FADE:
        _start_slot(fst, ist, chan, counters, glob, values, 0, ch, note, velocity, 0.0, False)
        return
    if legato and held and _gated(stage):
        glob[G_LAST_PITCH] = _move_pitch(fst, ist, chan, values, sample_rate, ch, note, True)
        return
    glob[G_LAST_PITCH] = _move_pitch(fst, ist, chan, values, sample_rate, ch, note, not legato or held)
    _retrigger(fst, ist, values, velocity)


@njit(cache=True, nogil=True)
def _note_off_mono(fst, ist, chan, counters, stack, glob, values, sample_rate, ch, note, every_note):
    _stack_remove(stack, counters, ch, -1 if every_note else note)
    if ist[I_CHANNEL, 0] != ch or not _gated(ist[I_STAGE, 0]) or ist[I_HELD, 0] != 0:
        return
    if not every_note and ist[I_NOTE, 0] != note:
        return  # a key below the sounding one was let go
    n = counters[K_STACK]
    if n > 0:
        top_ch = stack[S_CHANNEL, n - 1]
        top = stack[S_NOTE, n - 1]
        glob[G_LAST_PITCH] = _move_pitch(fst, ist, chan, values, sample_rate, top_ch, top, True)
        if int(values[P_VOICE_MODE]) != MODE_LEGATO:
            _retrigger(fst, ist, values, stack[S_VELOCITY, n - 1])
        return
    _release_slot(ist, 0, chan[CH_PEDAL, ch] != 0.0)


@njit(cache=True, nogil=True)
def _note_off(ist, chan, first, max_voices, ch, note, every_note):
    pedal = chan[CH_PEDAL, ch] != 0.0
    for s in range(first, max_voices):
        if ist[I_CHANNEL, s] != ch or not _gated(ist[I_STAGE, s]) or ist[I_HELD, s] != 0:
            continue
        if every_note or ist[I_NOTE, s] == note:
            _release_slot(ist, s, pedal)


@njit(cache=True, nogil=True)
def _pedal(ist, chan, ch, down):
    was_down = chan[CH_PEDAL, ch] != 0.0
    chan[CH_PEDAL, ch] = 1.0 if down else 0.0
    if down or not was_down:
        return
    for c in range(ist.shape[1]):
        if ist[I_CHANNEL, c] == ch and ist[I_HELD, c] != 0:
            ist[I_HELD, c] = 0
            if _gated(ist[I_STAGE, c]):
                ist[I_STAGE, c] = STAGE_RELEASE


@njit(cache=True, nogil=True)
def _bend(fst, ist, chan, ch, semitones):
    chan[CH_BEND, ch] = semitones
    for c in range(ist.shape[1]):
        if ist[I_CHANNEL, c] == ch and ist[I_STAGE, c] != STAGE_IDLE:
            fst[F_PITCH, c] = ist[I_NOTE, c] + semitones
            ist[I_DIRTY, c] = 1


@njit(cache=True, nogil=True)
def _sound_off(fst, ist, stack, counters, ch):
    _stack_remove(stack, counters, ch, -1)
    for c in range(ist.shape[1]):
        if ist[I_CHANNEL, c] == ch:
            ist[I_STAGE, c] = STAGE_IDLE
            ist[I_HELD, c] = 0
            fst[F_ENV, c] = 0.0


@njit(cache=True, nogil=True)
def apply_midi_event(
    fst, ist, chan, counters, stack, glob, values, max_voices, sample_rate, status, data1, data2,
    bend_range, fade_samples,
):  # fmt: skip
    """Apply one MIDI message to the voice state (see the module docstring for the policies).

    ``chan`` is the float64 channel state ``(2, NUM_CHANNELS)``, ``counters`` an int64 array (note-on
    counter, keys on the stack), ``stack`` the int64 key stack ``(3, STACK_SIZE)``, ``glob`` the kernel's
    instrument state, ``values`` the kernel's parameter values, ``max_voices`` the number of note slots
    (the slots after them are tails). Messages other than note on/off, pitch bend and CC 64/120/121/123
    are ignored.
    """
    kind = status & 0xF0
    ch = status & 0x0F
    poly = int(values[P_VOICE_MODE]) == MODE_POLY
    if kind == NOTE_ON and data2 > 0:
        if poly:
            _stack_push(stack, counters, ch, data1, data2)
            _note_on_poly(fst, ist, chan, counters, glob, values, max_voices, ch, data1, data2, fade_samples)
        else:
            _note_on_mono(fst, ist, chan, counters, stack, glob, values, sample_rate, ch, data1, data2)
    elif kind == NOTE_OFF or kind == NOTE_ON:
        if poly:
            _stack_remove(stack, counters, ch, data1)
            _note_off(ist, chan, 0, max_voices, ch, data1, False)
        else:
            _note_off_mono(fst, ist, chan, counters, stack, glob, values, sample_rate, ch, data1, False)
            _note_off(ist, chan, 1, max_voices, ch, data1, False)  # notes left from poly mode
    elif kind == PITCH_BEND:
        value = data1 | (data2 << 7)
        _bend(fst, ist, chan, ch, (value - 8192) / 8192.0 * bend_range)
    elif kind == CONTROL_CHANGE:
        if data1 == CC_SUSTAIN:
            _pedal(ist, chan, ch, data2 >= 64)
        elif data1 == CC_ALL_SOUND_OFF:
            _sound_off(fst, ist, stack, counters, ch)
        elif data1 == CC_ALL_NOTES_OFF:
            if poly:
                _stack_remove(stack, counters, ch, -1)
                _note_off(ist, chan, 0, max_voices, ch, 0, True)
            else:
                _note_off_mono(fst, ist, chan, counters, stack, glob, values, sample_rate, ch, 0, True)
                _note_off(ist, chan, 1, max_voices, ch, 0, True)
        elif data1 == CC_RESET_ALL_CONTROLLERS:
            _pedal(ist, chan, ch, False)
            _bend(fst, ist, chan, ch, 0.0)


MIN_TAILS = 8  # fade slots even a small pool keeps, so a burst of steals inside 3 ms still fades
COLUMN_PAD = 3  # below UNISON_MAX: the kernels count slots as columns // UNISON_MAX


class VoicePool:
    """The voices of one polyphonic instrument and the MIDI logic that drives them.

    ``fst``/``ist`` hold ``UNISON_MAX`` columns for each of ``max_voices`` note slots, then for
    ``max(max_voices, MIN_TAILS)`` tails that fade out stolen voices (several steals inside one fade each
    get a tail). ``values`` holds the synth parameters an event reads (defaults until the synth shares
    its own). Call :meth:`prepare` before :meth:`handle`; render with
    :func:`dsp.kernels.synth.render_voices`.
    """

    def __init__(
        self, max_voices: int = 32, pitch_bend_range_semitones: float = 2.0, steal_fade_ms: float = 3.0
    ) -> None:
        if max_voices < 1:
            raise ValueError(f"max_voices must be at least 1, got {max_voices}")
        if not 0.0 <= pitch_bend_range_semitones <= 48.0:
            raise ValueError(f"pitch_bend_range_semitones must be in 0..48, got {pitch_bend_range_semitones}")
        if not 0.5 <= steal_fade_ms <= 50.0:
            raise ValueError(f"steal_fade_ms must be in 0.5..50, got {steal_fade_ms}")
        self.max_voices = int(max_voices)
        self.num_slots = self.max_voices + max(self.max_voices, MIN_TAILS)
        self.num_columns = UNISON_MAX * self.num_slots
        self.pitch_bend_range_semitones = float(pitch_bend_range_semitones)
        self.steal_fade_ms = float(steal_fade_ms)
        self.values = np.array([spec[3] for spec in VOICE_PARAMS], dtype=np.float64)
        self.sample_rate = 48000.0
        self.fade_samples = 1.0
        self.prepare(48000.0)

    def prepare(self, sample_rate: float) -> None:
        """Allocate the state arrays for ``sample_rate`` and silence all voices (control side)."""
        self.sample_rate = float(sample_rate)
        self.fade_samples = max(1.0, self.steal_fade_ms * 0.001 * float(sample_rate))
        # a few unused columns past the last one: rows a power of two apart would all share a cache set,
        # and the kernels walk many rows of one column at a time
        self.fst = np.zeros((NUM_F_ROWS, self.num_columns + COLUMN_PAD), dtype=np.float64)
        self.ist = np.zeros((NUM_I_ROWS, self.num_columns + COLUMN_PAD), dtype=np.int64)
        self.chan = np.zeros((2, NUM_CHANNELS), dtype=np.float64)
        self.counters = np.zeros(2, dtype=np.int64)
        self.stack = np.zeros((3, STACK_SIZE), dtype=np.int64)
        self.glob = np.zeros(NUM_G_ROWS, dtype=np.float64)
        self.glob[G_UNISON_USED] = 1.0

    def reset(self) -> None:
        """Silence every voice, forget pedal, pitch bend and held keys, restart the LFO. Allocates nothing."""
        self.fst.fill(0.0)
        self.ist.fill(0)
        self.chan.fill(0.0)
        self.counters.fill(0)
        self.glob.fill(0.0)
        self.glob[G_UNISON_USED] = 1.0

    def handle(self, status: int, data1: int, data2: int) -> None:
        """Apply one MIDI message (status byte with channel, two data bytes). Allocates nothing."""
        apply_midi_event(
            self.fst, self.ist, self.chan, self.counters, self.stack, self.glob, self.values,
            self.max_voices, self.sample_rate, status, data1, data2, self.pitch_bend_range_semitones,
            self.fade_samples,
        )  # fmt: skip

    def active_count(self) -> int:
        """Notes playing now (attack to release); fading tails of stolen voices are not counted."""
        return int(np.count_nonzero(self.ist[I_STAGE, : self.max_voices]))

    def sounding_count(self) -> int:
        """Notes and fading tails that still make sound."""
        return int(np.count_nonzero(self.ist[I_STAGE, : self.num_slots]))

    def held_keys(self) -> list[tuple[int, int]]:
        """(channel, note) of the keys held down, oldest first (control side: for tests and displays)."""
        n = int(self.counters[K_STACK])
        return [(int(self.stack[S_CHANNEL, i]), int(self.stack[S_NOTE, i])) for i in range(n)]
