"""MIDI events applied to the sampler's state: notes start and release voices, controllers move channels.

All of it is Numba code over the arrays of :mod:`dsp.kernels.sampler.layout`, so applying an event
allocates nothing. What a player hears:

- Note-on: every region of the channel's preset whose key and velocity ranges hold the note, whose
  trigger fits (attack; first or legato by whether another key is down), whose round robin comes round
  and whose random range holds this note's random number starts a voice at the event's sample. Voices
  of the same key still gated are released first (a repeated note does not stack). A region with a
  choke group fades out (5 ms) the channel's voices whose regions are ``off_by`` that group.
- Note-off releases the key's voices (one-shots play on), or marks them held while the sustain pedal is
  down; release-trigger regions sound then, with the note-on's velocity (after the pedal lifts, if it
  held the note).
- Past ``max_voices`` a note steals: the oldest releasing voice, else the oldest; the stolen voice fades
  out over 5 ms in a spare column instead of being cut.
- Controllers: 0/32 bank select (applied at the next program change), 1 mod wheel (vibrato), 6/38 data
  entry for RPN 0 (pitch-bend range, semitones and cents), 7 volume and 11 expression (square law), 10
  pan, 64 sustain pedal, 91/93 reverb and chorus sends, 98..101 (N)RPN select, 120 all sound off (5 ms
  fade), 121 reset all controllers, 123..127 all notes off. Program change picks the preset: the exact
  bank and program, else program in bank 0 (bank 128, then kit 0, on the drum channel), else the first
  preset. Channel aftertouch deepens vibrato like the mod wheel.
"""

from __future__ import annotations

import math

from numba import njit

from dsp.kernels.sampler.layout import (
    C_BEND,
    C_BEND_RANGE,
    C_CHORUS,
    C_EXPRESSION,
    C_MOD_WHEEL,
    C_PAN,
    C_PRESSURE,
    C_REVERB,
    C_VOLUME,
    CI_BANK_LSB,
    CI_BANK_MSB,
    CI_KEYS_DOWN,
    CI_PEDAL,
    CI_PRESET,
    CI_RPN_LSB,
    CI_RPN_MSB,
    DRUM_BANK,
    DRUM_CHANNEL,
    K_LAST_VELOCITY,
    K_PENDING,
    K_VELOCITY,
    LN_SILENCE,
    M_RANDOM,
    M_SERIAL,
    NUM_CHANNELS,
    ONE_SHOT,
    P_BANK,
    P_END,
    P_FIRST,
    P_PROGRAM,
    R_AMP_ATTACK,
    R_AMP_DECAY,
    R_AMP_DECAY_KT,
    R_AMP_DELAY,
    R_AMP_HOLD,
    R_AMP_HOLD_KT,
    R_AMP_RELEASE,
    R_AMP_SUSTAIN_DB,
    R_AMP_VELTRACK,
    R_CUTOFF_CENTS,
    R_FIL_KEYCENTER,
    R_FIL_KEYTRACK,
    R_FIL_VEL_SWITCH,
    R_FIL_VELTRACK,
    R_HIRAND,
    R_KEYCENTER,
    R_KEYTRACK,
    R_LORAND,
    R_MOD_ATTACK,
    R_MOD_DECAY,
    R_MOD_DECAY_KT,
    R_MOD_DELAY,
    R_MOD_HOLD,
    R_MOD_HOLD_KT,
    R_MOD_RELEASE,
    R_MOD_SUSTAIN,
    R_MODLFO_DELAY,
    R_MODLFO_FREQ,
    R_SAMPLE_RATE,
    R_START,
    R_TUNE,
    R_VIB_DELAY,
    R_VIB_FREQ,
    R_VOLUME_DB,
    RI_FILTER,
    RI_GROUP,
    RI_HIKEY,
    RI_HIVEL,
    RI_LOKEY,
    RI_LOOP_MODE,
    RI_LOVEL,
    RI_OFF_BY,
    RI_SEQ_COUNTER,
    RI_SEQ_LENGTH,
    RI_SEQ_POSITION,
    RI_TRIGGER,
    STAGE_ATTACK,
    STAGE_DELAY,
    STAGE_FADE,
    STAGE_IDLE,
    STAGE_RELEASE,
    TRIGGER_FIRST,
    TRIGGER_LEGATO,
    TRIGGER_RELEASE,
    V_AMP,
    V_ATTACK_STEP,
    V_CENTS,
    V_CTRL,
    V_CUTOFF_CENTS,
    V_DECAY_K,
    V_DELAY_N,
    V_ENV,
    V_FADE_STEP,
    V_GAIN_L,
    V_HOLD_N,
    V_LAST_CENTS,
    V_LAST_FC,
    V_LAST_PAN,
    V_MOD,
    V_MOD_ATTACK_STEP,
    V_MOD_DECAY_STEP,
    V_MOD_DELAY_N,
    V_MOD_HOLD_N,
    V_MOD_RELEASE_STEP,
    V_MOD_SUSTAIN,
    V_MODLFO_INC,
    V_MODLFO_WAIT,
    V_POS,
    V_RATIO,
    V_RELEASE_K,
    V_SUSTAIN,
    V_VIB_INC,
    V_VIB_WAIT,
    VI_CHANNEL,
    VI_FILTER,
    VI_HELD,
    VI_LOOP_MODE,
    VI_MOD_STAGE,
    VI_NOTE,
    VI_REGION,
    VI_SERIAL,
    VI_STAGE,
)

__all__ = ["apply_event", "program_change", "reset_channels", "select_preset", "stop_all"]

NOTE_OFF = 0x80
NOTE_ON = 0x90
CONTROL_CHANGE = 0xB0
PROGRAM_CHANGE = 0xC0
CHANNEL_AFTERTOUCH = 0xD0
PITCH_BEND = 0xE0
DEFAULT_VOLUME = 100.0 / 127.0
DEFAULT_REVERB = 40.0 / 127.0  # CC91's customary power-on value


@njit(cache=True, nogil=True)
def select_preset(presets, bank, program, drum):
    """Row of the preset table for a bank and program, falling back as the module docstring says."""
    n = presets.shape[0]
    for p in range(n):
        if presets[p, P_BANK] == bank and presets[p, P_PROGRAM] == program:
            return p
    for p in range(n):
        if presets[p, P_BANK] == (DRUM_BANK if drum else 0) and presets[p, P_PROGRAM] == program:
            return p
    if drum:
        for p in range(n):
            if presets[p, P_BANK] == DRUM_BANK and presets[p, P_PROGRAM] == 0:
                return p
        for p in range(n):
            if presets[p, P_BANK] == DRUM_BANK:
                return p
    return 0 if n > 0 else -1


@njit(cache=True, nogil=True)
def _channel_bank(ci, ch):
    if ch == DRUM_CHANNEL:
        return DRUM_BANK
    msb = ci[CI_BANK_MSB, ch]
    lsb = ci[CI_BANK_LSB, ch]
    return msb * 128 + lsb if lsb != 0 else msb


@njit(cache=True, nogil=True)
def program_change(presets, ci, ch, program):
    """Channel ``ch`` plays ``program`` of its selected bank from its next note on."""
    bank = _channel_bank(ci, ch)
    p = select_preset(presets, bank, program, ch == DRUM_CHANNEL)
    if p >= 0 and bank != presets[p, P_BANK] and bank > 127 and ch != DRUM_CHANNEL:
        # MSB*128+LSB named no bank here: try the MSB alone
        p = select_preset(presets, ci[CI_BANK_MSB, ch], program, False)
    ci[CI_PRESET, ch] = p


@njit(cache=True, nogil=True)
def reset_channels(presets, cf, ci, keys, initial_program):
    """Every channel to its power-on state: controllers at their defaults, the initial program (bank
    0, or bank 128 on the drum channel) selected, no key down."""
    for ch in range(NUM_CHANNELS):
        cf[C_BEND, ch] = 0.0
        cf[C_BEND_RANGE, ch] = 2.0
        cf[C_VOLUME, ch] = DEFAULT_VOLUME
        cf[C_EXPRESSION, ch] = 1.0
        cf[C_PAN, ch] = 0.0
        cf[C_MOD_WHEEL, ch] = 0.0
        cf[C_PRESSURE, ch] = 0.0
        cf[C_REVERB, ch] = DEFAULT_REVERB
        cf[C_CHORUS, ch] = 0.0
        for r in range(ci.shape[0]):
            ci[r, ch] = 0
        ci[CI_RPN_MSB, ch] = 127
        ci[CI_RPN_LSB, ch] = 127
        program_change(presets, ci, ch, initial_program)
    keys[:] = 0


@njit(cache=True, nogil=True)
def _random(misc):
    x = (misc[M_RANDOM] * 48271) % 2147483647
    misc[M_RANDOM] = x
    return (x - 1) / 2147483646.0


@njit(cache=True, nogil=True)
def _fade(vf, vi, v, fade_samples):
    if vi[VI_STAGE, v] == STAGE_DELAY or vf[V_ENV, v] <= 0.0:
        vi[VI_STAGE, v] = STAGE_IDLE
        return
    vi[VI_STAGE, v] = STAGE_FADE
    vf[V_FADE_STEP, v] = vf[V_ENV, v] / fade_samples


@njit(cache=True, nogil=True)
def _release(vf, vi, v):
    vi[VI_STAGE, v] = STAGE_RELEASE
    vi[VI_HELD, v] = 0
    if vi[VI_MOD_STAGE, v] != STAGE_IDLE:
        vi[VI_MOD_STAGE, v] = STAGE_RELEASE


@njit(cache=True, nogil=True)
def _free_column(vf, vi, max_voices, fade_samples):
    # an idle column for a new voice; past max_voices the oldest releasing (else oldest) voice fades out
    idle = -1
    active = 0
    victim = -1
    victim_rank = 2
    victim_serial = 0
    for v in range(vf.shape[1]):
        stage = vi[VI_STAGE, v]
        if stage == STAGE_IDLE:
            if idle < 0:
                idle = v
            continue
        if stage == STAGE_FADE:
            continue
        active += 1
        rank = 0 if stage == STAGE_RELEASE else 1
        serial = vi[VI_SERIAL, v]
        if rank < victim_rank or (rank == victim_rank and serial < victim_serial):
            victim, victim_rank, victim_serial = v, rank, serial
    if active >= max_voices and victim >= 0:
        _fade(vf, vi, victim, fade_samples)
        if vi[VI_STAGE, victim] == STAGE_IDLE and idle < 0:
            idle = victim
    if idle < 0:  # every spare column is fading: cut the quietest fade
        quietest = math.inf
        for v in range(vf.shape[1]):
            if vi[VI_STAGE, v] == STAGE_FADE and vf[V_ENV, v] < quietest:
                quietest = vf[V_ENV, v]
                idle = v
    return idle


@njit(cache=True, nogil=True)
def _seconds_scaled(seconds, keytrack_tc, note):
    if keytrack_tc != 0.0:
        return seconds * math.exp2(keytrack_tc * (60 - note) / 1200.0)
    return seconds


@njit(cache=True, nogil=True)
def _start_voice(rf, ri, vf, vi, v, r, ch, note, velocity, serial, sample_rate):
    for row in range(vf.shape[0]):
        vf[row, v] = 0.0
    for row in range(vi.shape[0]):
        vi[row, v] = 0
    sr = sample_rate
    vi[VI_REGION, v] = r
    vi[VI_CHANNEL, v] = ch
    vi[VI_NOTE, v] = note
    vi[VI_SERIAL, v] = serial
    vi[VI_LOOP_MODE, v] = ri[RI_LOOP_MODE, r]
    vi[VI_FILTER, v] = ri[RI_FILTER, r]
    vf[V_POS, v] = rf[R_START, r]
    vf[V_RATIO, v] = rf[R_SAMPLE_RATE, r] / sr
    vf[V_CENTS, v] = (note - rf[R_KEYCENTER, r]) * rf[R_KEYTRACK, r] + rf[R_TUNE, r]
    vel = velocity / 127.0
    track = rf[R_AMP_VELTRACK, r]
    vf[V_AMP, v] = math.pow(10.0, rf[R_VOLUME_DB, r] / 20.0) * (1.0 - track + track * vel * vel)
    # amplitude envelope
    delay_n = rf[R_AMP_DELAY, r] * sr
    vf[V_DELAY_N, v] = delay_n
    vf[V_ATTACK_STEP, v] = 1.0 / max(rf[R_AMP_ATTACK, r] * sr, 1.0)
    vf[V_HOLD_N, v] = _seconds_scaled(rf[R_AMP_HOLD, r], rf[R_AMP_HOLD_KT, r], note) * sr
    decay_n = _seconds_scaled(rf[R_AMP_DECAY, r], rf[R_AMP_DECAY_KT, r], note) * sr
    vf[V_DECAY_K, v] = math.exp(LN_SILENCE / max(decay_n, 1.0))
    sus_db = rf[R_AMP_SUSTAIN_DB, r]
    vf[V_SUSTAIN, v] = 0.0 if sus_db <= -100.0 else math.pow(10.0, min(sus_db, 0.0) / 20.0)
    vf[V_RELEASE_K, v] = math.exp(LN_SILENCE / max(rf[R_AMP_RELEASE, r] * sr, 1.0))
    vi[VI_STAGE, v] = STAGE_DELAY if delay_n >= 1.0 else STAGE_ATTACK
    # modulation envelope
    mdelay = rf[R_MOD_DELAY, r] * sr
    vf[V_MOD_DELAY_N, v] = mdelay
    vf[V_MOD_ATTACK_STEP, v] = 1.0 / max(rf[R_MOD_ATTACK, r] * sr, 1.0)
    vf[V_MOD_HOLD_N, v] = _seconds_scaled(rf[R_MOD_HOLD, r], rf[R_MOD_HOLD_KT, r], note) * sr
    mdecay = _seconds_scaled(rf[R_MOD_DECAY, r], rf[R_MOD_DECAY_KT, r], note) * sr
    vf[V_MOD_DECAY_STEP, v] = 1.0 / max(mdecay, 1.0)
    vf[V_MOD_SUSTAIN, v] = min(max(rf[R_MOD_SUSTAIN, r], 0.0), 1.0)
    vf[V_MOD_RELEASE_STEP, v] = 1.0 / max(rf[R_MOD_RELEASE, r] * sr, 1.0)
    vi[VI_MOD_STAGE, v] = STAGE_DELAY if mdelay >= 1.0 else STAGE_ATTACK
    vf[V_MOD, v] = 0.0
    # LFOs
    vf[V_VIB_WAIT, v] = rf[R_VIB_DELAY, r] * sr
    vf[V_VIB_INC, v] = rf[R_VIB_FREQ, r] / sr
    vf[V_MODLFO_WAIT, v] = rf[R_MODLFO_DELAY, r] * sr
    vf[V_MODLFO_INC, v] = rf[R_MODLFO_FREQ, r] / sr
    # filter: velocity and key tracking fixed at the note-on
    veltrack = rf[R_FIL_VELTRACK, r]
    vel_cents = veltrack * vel if velocity >= rf[R_FIL_VEL_SWITCH, r] else veltrack
    vf[V_CUTOFF_CENTS, v] = (
        rf[R_CUTOFF_CENTS, r] + vel_cents + rf[R_FIL_KEYTRACK, r] * (note - rf[R_FIL_KEYCENTER, r])
    )
    vf[V_ENV, v] = 0.0
    vf[V_GAIN_L, v] = -1.0  # the first control update sets the gains without a ramp
    vf[V_LAST_CENTS, v] = math.nan  # ... and computes everything
    vf[V_LAST_FC, v] = math.nan
    vf[V_LAST_PAN, v] = math.nan
    vf[V_CTRL, v] = 0.0


@njit(cache=True, nogil=True)
def _trigger_regions(
    rf,
    ri,
    presets,
    vf,
    vi,
    misc,
    p,
    ch,
    note,
    velocity,
    release,
    first,
    max_voices,
    fade_samples,
    sample_rate,
):
    serial = misc[M_SERIAL]
    misc[M_SERIAL] = serial + 1
    rnd = _random(misc)
    for r in range(presets[p, P_FIRST], presets[p, P_END]):
        if note < ri[RI_LOKEY, r] or note > ri[RI_HIKEY, r]:
            continue
        if velocity < ri[RI_LOVEL, r] or velocity > ri[RI_HIVEL, r]:
            continue
        trig = ri[RI_TRIGGER, r]
        if release:
            if trig != TRIGGER_RELEASE:
                continue
        elif trig == TRIGGER_RELEASE or (trig == TRIGGER_FIRST and not first):
            continue
        elif trig == TRIGGER_LEGATO and first:
            continue
        count = ri[RI_SEQ_COUNTER, r]
        ri[RI_SEQ_COUNTER, r] = count + 1
        length = ri[RI_SEQ_LENGTH, r]
        if length > 1 and count % length != ri[RI_SEQ_POSITION, r] - 1:
            continue
        if rnd < rf[R_LORAND, r] or rnd >= rf[R_HIRAND, r]:
            continue
        group = ri[RI_GROUP, r]
        if group != 0:
            for v in range(vf.shape[1]):
                stage = vi[VI_STAGE, v]
                if stage == STAGE_IDLE or stage == STAGE_FADE or vi[VI_CHANNEL, v] != ch:
                    continue
                if vi[VI_SERIAL, v] != serial and ri[RI_OFF_BY, vi[VI_REGION, v]] == group:
                    _fade(vf, vi, v, fade_samples)
        v = _free_column(vf, vi, max_voices, fade_samples)
        if v >= 0:
            _start_voice(rf, ri, vf, vi, v, r, ch, note, velocity, serial, sample_rate)


@njit(cache=True, nogil=True)
def _key_released(rf, ri, presets, vf, vi, ci, keys, misc, ch, note, max_voices, fade_samples, sample_rate):
    # the key is up and no pedal holds it: release its voices, then sound its release regions
    for v in range(vf.shape[1]):
        stage = vi[VI_STAGE, v]
        if vi[VI_CHANNEL, v] != ch or vi[VI_NOTE, v] != note:
            continue
        if STAGE_DELAY <= stage < STAGE_RELEASE and vi[VI_LOOP_MODE, v] != ONE_SHOT:
            _release(vf, vi, v)
    keys[K_PENDING, ch, note] = 0
    p = ci[CI_PRESET, ch]
    if p >= 0:
        vel = keys[K_LAST_VELOCITY, ch, note]
        _trigger_regions(
            rf,
            ri,
            presets,
            vf,
            vi,
            misc,
            p,
            ch,
            note,
            vel,
            True,
            False,
            max_voices,
            fade_samples,
            sample_rate,
        )


@njit(cache=True, nogil=True)
def _note_off(rf, ri, presets, vf, vi, ci, keys, misc, ch, note, max_voices, fade_samples, sample_rate):
    if keys[K_VELOCITY, ch, note] == 0:
        return
    keys[K_VELOCITY, ch, note] = 0
    ci[CI_KEYS_DOWN, ch] = max(ci[CI_KEYS_DOWN, ch] - 1, 0)
    if ci[CI_PEDAL, ch] != 0:
        keys[K_PENDING, ch, note] = 1
        for v in range(vf.shape[1]):
            stage = vi[VI_STAGE, v]
            if vi[VI_CHANNEL, v] == ch and vi[VI_NOTE, v] == note and STAGE_DELAY <= stage < STAGE_RELEASE:
                vi[VI_HELD, v] = 1
        return
    _key_released(rf, ri, presets, vf, vi, ci, keys, misc, ch, note, max_voices, fade_samples, sample_rate)


@njit(cache=True, nogil=True)
def _note_on(
    rf, ri, presets, vf, vi, ci, keys, misc, ch, note, velocity, max_voices, fade_samples, sample_rate
):
    p = ci[CI_PRESET, ch]
    first = ci[CI_KEYS_DOWN, ch] == 0
    if keys[K_VELOCITY, ch, note] == 0:
        ci[CI_KEYS_DOWN, ch] += 1
    keys[K_VELOCITY, ch, note] = velocity
    keys[K_LAST_VELOCITY, ch, note] = velocity
    keys[K_PENDING, ch, note] = 0
    for v in range(vf.shape[1]):  # a repeated key: the earlier voices ring out through their release
        stage = vi[VI_STAGE, v]
        if vi[VI_CHANNEL, v] == ch and vi[VI_NOTE, v] == note and STAGE_DELAY <= stage < STAGE_RELEASE:
            if vi[VI_LOOP_MODE, v] != ONE_SHOT:
                _release(vf, vi, v)
    if p >= 0:
        _trigger_regions(
            rf,
            ri,
            presets,
            vf,
            vi,
            misc,
            p,
            ch,
            note,
            velocity,
            False,
            first,
            max_voices,
            fade_samples,
            sample_rate,
        )


@njit(cache=True, nogil=True)
def _all_notes_off(rf, ri, presets, vf, vi, ci, keys, misc, ch, max_voices, fade_samples, sample_rate):
    for note in range(128):
        if keys[K_VELOCITY, ch, note] != 0:
            _note_off(
                rf, ri, presets, vf, vi, ci, keys, misc, ch, note, max_voices, fade_samples, sample_rate
            )


@njit(cache=True, nogil=True)
def _pedal_up(rf, ri, presets, vf, vi, ci, keys, misc, ch, max_voices, fade_samples, sample_rate):
    ci[CI_PEDAL, ch] = 0
    for v in range(vf.shape[1]):
        stage = vi[VI_STAGE, v]  # a held voice may have ended meanwhile: only sounding ones release
        if vi[VI_CHANNEL, v] == ch and vi[VI_HELD, v] != 0 and STAGE_DELAY <= stage < STAGE_RELEASE:
            if vi[VI_LOOP_MODE, v] != ONE_SHOT:
                _release(vf, vi, v)
            vi[VI_HELD, v] = 0
    for note in range(128):
        if keys[K_PENDING, ch, note] != 0:
            _key_released(
                rf, ri, presets, vf, vi, ci, keys, misc, ch, note, max_voices, fade_samples, sample_rate
            )


@njit(cache=True, nogil=True)
def stop_all(vf, vi, fade_samples):
    """Every voice fades out in ``fade_samples``."""
    for v in range(vf.shape[1]):
        if vi[VI_STAGE, v] != STAGE_IDLE and vi[VI_STAGE, v] != STAGE_FADE:
            _fade(vf, vi, v, fade_samples)


@njit(cache=True, nogil=True)
def _control_change(
    rf, ri, presets, vf, vi, cf, ci, keys, misc, ch, cc, value, max_voices, fade_samples, sample_rate
):
    x = value / 127.0
    if cc == 0:
        ci[CI_BANK_MSB, ch] = value
    elif cc == 32:
        ci[CI_BANK_LSB, ch] = value
    elif cc == 1:
        cf[C_MOD_WHEEL, ch] = x
    elif cc == 7:
        cf[C_VOLUME, ch] = x
    elif cc == 11:
        cf[C_EXPRESSION, ch] = x
    elif cc == 10:
        cf[C_PAN, ch] = max((value - 64) / 63.0, -1.0)
    elif cc == 91:
        cf[C_REVERB, ch] = x
    elif cc == 93:
        cf[C_CHORUS, ch] = x
    elif cc == 64:
        if value >= 64:
            ci[CI_PEDAL, ch] = 1
        elif ci[CI_PEDAL, ch] != 0:
            _pedal_up(rf, ri, presets, vf, vi, ci, keys, misc, ch, max_voices, fade_samples, sample_rate)
    elif cc == 101:
        ci[CI_RPN_MSB, ch] = value
    elif cc == 100:
        ci[CI_RPN_LSB, ch] = value
    elif cc == 99 or cc == 98:  # an NRPN: data entry no longer aims at an RPN
        ci[CI_RPN_MSB, ch] = 127
        ci[CI_RPN_LSB, ch] = 127
    elif cc == 6:
        if ci[CI_RPN_MSB, ch] == 0 and ci[CI_RPN_LSB, ch] == 0:
            cf[C_BEND_RANGE, ch] = float(value)
    elif cc == 38:
        if ci[CI_RPN_MSB, ch] == 0 and ci[CI_RPN_LSB, ch] == 0:
            cf[C_BEND_RANGE, ch] = math.floor(cf[C_BEND_RANGE, ch]) + value / 100.0
    elif cc == 120:
        for v in range(vf.shape[1]):
            if vi[VI_CHANNEL, v] == ch and vi[VI_STAGE, v] != STAGE_IDLE and vi[VI_STAGE, v] != STAGE_FADE:
                _fade(vf, vi, v, fade_samples)
    elif cc == 121:
        cf[C_BEND, ch] = 0.0
        cf[C_MOD_WHEEL, ch] = 0.0
        cf[C_EXPRESSION, ch] = 1.0
        cf[C_PRESSURE, ch] = 0.0
        ci[CI_RPN_MSB, ch] = 127
        ci[CI_RPN_LSB, ch] = 127
        if ci[CI_PEDAL, ch] != 0:
            _pedal_up(rf, ri, presets, vf, vi, ci, keys, misc, ch, max_voices, fade_samples, sample_rate)
    elif cc >= 123:
        _all_notes_off(rf, ri, presets, vf, vi, ci, keys, misc, ch, max_voices, fade_samples, sample_rate)


@njit(cache=True, nogil=True)
def apply_event(
    rf, ri, presets, vf, vi, cf, ci, keys, misc, max_voices, fade_samples, sample_rate, status, data1, data2
):
    """Apply one MIDI message (status byte, two data bytes) to the sampler's state."""
    kind = status & 0xF0
    ch = status & 0x0F
    if kind == NOTE_ON and data2 > 0:
        _note_on(
            rf, ri, presets, vf, vi, ci, keys, misc, ch, data1, data2, max_voices, fade_samples, sample_rate
        )
    elif kind == NOTE_OFF or kind == NOTE_ON:
        _note_off(rf, ri, presets, vf, vi, ci, keys, misc, ch, data1, max_voices, fade_samples, sample_rate)
    elif kind == CONTROL_CHANGE:
        _control_change(
            rf,
            ri,
            presets,
            vf,
            vi,
            cf,
            ci,
            keys,
            misc,
            ch,
            data1,
            data2,
            max_voices,
            fade_samples,
            sample_rate,
        )
    elif kind == PROGRAM_CHANGE:
        program_change(presets, ci, ch, data1)
    elif kind == PITCH_BEND:
        cf[C_BEND, ch] = ((data1 | (data2 << 7)) - 8192) / 8192.0
    elif kind == CHANNEL_AFTERTOUCH:
        cf[C_PRESSURE, ch] = data1 / 127.0
