"""Voice allocation for the polyphonic synth: MIDI events in, voice state (struct of arrays) changed.

A :class:`VoicePool` holds the voice state that :func:`dsp.kernels.synth.render_voices` renders, laid out
as that module describes, plus per-channel state (pitch bend, sustain pedal). Call
:meth:`VoicePool.prepare` once, then :meth:`VoicePool.handle` for each MIDI event at its sample (between
two renders), and :meth:`VoicePool.reset` to silence everything. All event logic is Numba code over the
arrays, so handling an event allocates nothing.

Policies (what a player hears):

- Note-on takes a free voice. With none free it steals one: the oldest releasing voice, else the oldest
  voice held only by the sustain pedal, else the oldest voice whose key is down. The stolen voice is not
  cut: its whole state moves to one of ``max(max_voices, MIN_TAILS)`` extra *tail* slots, where it fades
  out linearly over ``steal_fade_ms`` (3 ms) while the new note starts in the freed slot at the exact
  sample of its note-on. A hard cut would step the output by the voice's amplitude (a click); the fade
  limits the step to the voice's amplitude divided by the fade length (when every tail is busy, the
  quieter of the stolen voice and the quietest tail is the one cut). Tails are not counted as voices
  (:meth:`VoicePool.active_count`), so at most ``max_voices`` notes play; a fade in progress may sound
  for its 3 ms on top.
- The same (channel, note) struck again while it still sounds starts a new voice and releases the old
  one, which fades out through its own release: repeated notes do not stack up (no phasing, no growing
  level), and nothing is cut.
- Note-off (or note-on with velocity 0) releases every voice of that (channel, note) whose key is down,
  unless the channel's sustain pedal (CC64 >= 64) is down: then they are marked held and released when
  the pedal goes up.
- CC120 all-sound-off silences the channel's voices (tails too) at once. CC123 all-notes-off acts as a
  note-off for every key of the channel (the sustain pedal still holds them, as MIDI 1.0 says). CC121
  reset-all-controllers centres the pitch bend and lifts the pedal.
- Pitch bend moves every voice of the channel by up to ``pitch_bend_range_semitones`` (default 2).
- Velocity gain: ``1 - s + s * (velocity / 127) ** 2`` for velocity sensitivity ``s`` (square law, about
  84 dB from velocity 1 to 127 at full sensitivity).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dsp.kernels.synth import (
    F_AMP,
    F_ENV,
    F_FADE,
    F_PITCH,
    I_CHANNEL,
    I_DIRTY,
    I_HELD,
    I_NOTE,
    I_SERIAL,
    I_STAGE,
    NUM_F_ROWS,
    NUM_I_ROWS,
    STAGE_ATTACK,
    STAGE_DECAY,
    STAGE_FADE,
    STAGE_IDLE,
    STAGE_RELEASE,
    STAGE_SUSTAIN,
)
from engine.events import CONTROL_CHANGE, NOTE_OFF, NOTE_ON, PITCH_BEND

__all__ = ["NUM_CHANNELS", "VoicePool", "apply_midi_event", "velocity_gain"]

NUM_CHANNELS = 16
CH_BEND = 0  # rows of the channel state: pitch bend in semitones, sustain pedal down (0 or 1)
CH_PEDAL = 1

CC_SUSTAIN = 64
CC_ALL_SOUND_OFF = 120
CC_RESET_ALL_CONTROLLERS = 121
CC_ALL_NOTES_OFF = 123


@njit(cache=True, nogil=True)
def velocity_gain(velocity, sensitivity):
    """Amplitude for a MIDI velocity 1..127 at a velocity sensitivity 0..1 (square law)."""
    v = velocity / 127.0
    return 1.0 - sensitivity + sensitivity * v * v


@njit(cache=True, nogil=True)
def _gated(stage):
    return stage == STAGE_ATTACK or stage == STAGE_DECAY or stage == STAGE_SUSTAIN


@njit(cache=True, nogil=True)
def _steal_candidate(ist, max_voices):
    # rank: releasing (0), held by the pedal only (1), key down (2); oldest first within a rank
    best = 0
    best_rank = 3
    best_serial = 0
    for v in range(max_voices):
        stage = ist[I_STAGE, v]
        if stage == STAGE_RELEASE:
            rank = 0
        elif ist[I_HELD, v] != 0:
            rank = 1
        else:
            rank = 2
        serial = ist[I_SERIAL, v]
        if rank < best_rank or (rank == best_rank and serial < best_serial):
            best = v
            best_rank = rank
            best_serial = serial
    return best


@njit(cache=True, nogil=True)
def _move_to_tail(fst, ist, v, max_voices, fade_samples):
    # copy voice v into a tail slot that fades it out; an idle tail, else the quietest one, unless the
    # stolen voice is quieter still: then cutting it is the smaller step
    env = fst[F_ENV, v]
    if env <= 0.0:
        return
    t = max_voices
    quietest = np.inf
    idle = False
    for s in range(max_voices, ist.shape[1]):
        if ist[I_STAGE, s] == STAGE_IDLE:
            t = s
            idle = True
            break
        if fst[F_ENV, s] < quietest:
            quietest = fst[F_ENV, s]
            t = s
    if not idle and env <= quietest:
        return
    for r in range(fst.shape[0]):
        fst[r, t] = fst[r, v]
    for r in range(ist.shape[0]):
        ist[r, t] = ist[r, v]
    ist[I_STAGE, t] = STAGE_FADE
    ist[I_HELD, t] = 0
    fst[F_FADE, t] = env / fade_samples


@njit(cache=True, nogil=True)
def _note_on(fst, ist, chan, serial, max_voices, ch, note, velocity, sensitivity, fade_samples):
    v = -1
    for s in range(max_voices):
        stage = ist[I_STAGE, s]
        if stage == STAGE_IDLE:
            if v < 0:
                v = s
        elif ist[I_CHANNEL, s] == ch and ist[I_NOTE, s] == note and stage != STAGE_RELEASE:
            ist[I_STAGE, s] = STAGE_RELEASE  # retriggered: the old voice rings out
            ist[I_HELD, s] = 0
    if v < 0:
        v = _steal_candidate(ist, max_voices)
        _move_to_tail(fst, ist, v, max_voices, fade_samples)
    for r in range(fst.shape[0]):
        fst[r, v] = 0.0
    fst[F_PITCH, v] = note + chan[CH_BEND, ch]
    fst[F_AMP, v] = velocity_gain(velocity, sensitivity)
    ist[I_STAGE, v] = STAGE_ATTACK
    ist[I_CHANNEL, v] = ch
    ist[I_NOTE, v] = note
    ist[I_SERIAL, v] = serial[0]
    ist[I_HELD, v] = 0
    ist[I_DIRTY, v] = 1
    serial[0] += 1


@njit(cache=True, nogil=True)
def _note_off(ist, chan, max_voices, ch, note, every_note):
    pedal = chan[CH_PEDAL, ch] != 0.0
    for v in range(max_voices):
        if ist[I_CHANNEL, v] != ch or not _gated(ist[I_STAGE, v]) or ist[I_HELD, v] != 0:
            continue
        if every_note or ist[I_NOTE, v] == note:
            if pedal:
                ist[I_HELD, v] = 1
            else:
                ist[I_STAGE, v] = STAGE_RELEASE


@njit(cache=True, nogil=True)
def _pedal(ist, chan, max_voices, ch, down):
    was_down = chan[CH_PEDAL, ch] != 0.0
    chan[CH_PEDAL, ch] = 1.0 if down else 0.0
    if down or not was_down:
        return
    for v in range(max_voices):
        if ist[I_CHANNEL, v] == ch and ist[I_HELD, v] != 0:
            ist[I_HELD, v] = 0
            if _gated(ist[I_STAGE, v]):
                ist[I_STAGE, v] = STAGE_RELEASE


@njit(cache=True, nogil=True)
def _bend(fst, ist, chan, ch, semitones):
    chan[CH_BEND, ch] = semitones
    for v in range(ist.shape[1]):
        if ist[I_CHANNEL, v] == ch and ist[I_STAGE, v] != STAGE_IDLE:
            fst[F_PITCH, v] = ist[I_NOTE, v] + semitones
            ist[I_DIRTY, v] = 1


@njit(cache=True, nogil=True)
def _sound_off(fst, ist, ch):
    for v in range(ist.shape[1]):
        if ist[I_CHANNEL, v] == ch:
            ist[I_STAGE, v] = STAGE_IDLE
            ist[I_HELD, v] = 0
            fst[F_ENV, v] = 0.0


@njit(cache=True, nogil=True)
def apply_midi_event(
    fst, ist, chan, serial, max_voices, status, data1, data2, velocity_sensitivity, bend_range, fade_samples
):
    """Apply one MIDI message to the voice state (see the module docstring for the policies).

    ``chan`` is the float64 channel state ``(2, NUM_CHANNELS)``, ``serial`` an int64 array of one note-on
    counter, ``max_voices`` the number of voice slots (the columns after them are tails). Messages other
    than note on/off, pitch bend and CC 64/120/121/123 are ignored.
    """
    kind = status & 0xF0
    ch = status & 0x0F
    if kind == NOTE_ON and data2 > 0:
        _note_on(fst, ist, chan, serial, max_voices, ch, data1, data2, velocity_sensitivity, fade_samples)
    elif kind == NOTE_OFF or kind == NOTE_ON:
        _note_off(ist, chan, max_voices, ch, data1, False)
    elif kind == PITCH_BEND:
        value = data1 | (data2 << 7)
        _bend(fst, ist, chan, ch, (value - 8192) / 8192.0 * bend_range)
    elif kind == CONTROL_CHANGE:
        if data1 == CC_SUSTAIN:
            _pedal(ist, chan, max_voices, ch, data2 >= 64)
        elif data1 == CC_ALL_SOUND_OFF:
            _sound_off(fst, ist, ch)
        elif data1 == CC_ALL_NOTES_OFF:
            _note_off(ist, chan, max_voices, ch, 0, True)
        elif data1 == CC_RESET_ALL_CONTROLLERS:
            _pedal(ist, chan, max_voices, ch, False)
            _bend(fst, ist, chan, ch, 0.0)


MIN_TAILS = 8  # fade slots even a small pool keeps, so a burst of steals inside 3 ms still fades


class VoicePool:
    """The voices of one polyphonic instrument and the MIDI logic that drives them.

    ``fst``/``ist`` hold ``max_voices`` voice columns, then ``max(max_voices, MIN_TAILS)`` tails for the
    fade-out of stolen voices (several steals inside one fade each get a tail). Call :meth:`prepare`
    before :meth:`handle`; render with :func:`dsp.kernels.synth.render_voices`.
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
        self.pitch_bend_range_semitones = float(pitch_bend_range_semitones)
        self.steal_fade_ms = float(steal_fade_ms)
        self.fade_samples = 1.0
        self.prepare(48000.0)

    def prepare(self, sample_rate: float) -> None:
        """Allocate the state arrays for ``sample_rate`` and silence all voices (control side)."""
        self.fade_samples = max(1.0, self.steal_fade_ms * 0.001 * float(sample_rate))
        self.fst = np.zeros((NUM_F_ROWS, self.num_slots), dtype=np.float64)
        self.ist = np.zeros((NUM_I_ROWS, self.num_slots), dtype=np.int64)
        self.chan = np.zeros((2, NUM_CHANNELS), dtype=np.float64)
        self.serial = np.zeros(1, dtype=np.int64)

    def reset(self) -> None:
        """Silence every voice and forget pedal and pitch bend. Allocates nothing."""
        self.fst.fill(0.0)
        self.ist.fill(0)
        self.chan.fill(0.0)
        self.serial.fill(0)

    def handle(self, status: int, data1: int, data2: int, velocity_sensitivity: float = 1.0) -> None:
        """Apply one MIDI message (status byte with channel, two data bytes). Allocates nothing."""
        apply_midi_event(
            self.fst, self.ist, self.chan, self.serial, self.max_voices, status, data1, data2,
            velocity_sensitivity, self.pitch_bend_range_semitones, self.fade_samples,
        )  # fmt: skip

    def active_count(self) -> int:
        """Voices playing a note (attack to release); fading tails of stolen voices are not counted."""
        return int(np.count_nonzero(self.ist[I_STAGE, : self.max_voices]))

    def sounding_count(self) -> int:
        """Voices and fading tails that still make sound."""
        return int(np.count_nonzero(self.ist[I_STAGE]))
