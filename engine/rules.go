package engine

// Decision rules
//
// The Detector listens to one call in 20 ms frames of audio time and makes
// exactly one decision: amd_human_detected, amd_machine_detected,
// amd_no_speech_detected or amd_decision_timeout. The rules come from how
// people and answering machines behave on the phone, not from any one
// recording:
//
//   - People answer briefly and then wait for the caller: "Hello?", "Hi, this
//     is Dave.", "Good morning, Johnson residence." — under about 2 s of
//     speech, then silence. A machine reads a greeting of 3–10 s with short
//     pauses (250–600 ms) between its phrases, and ends it with a beep.
//   - Silence or line noise is nobody, never a machine.
//
// Speech is measured by dsp.VAD and dsp.Segmenter: a greeting's "speech" is
// its voiced time, its "words" the segmenter's word-like units (pause-
// delimited bursts, long bursts split at the speaking rate). Frames a tone
// detector marks tonal are never speech.
//
// Rules, checked every frame until one fires, in this order:
//
//  1. Tone. A confirmed beep, fax tone (CED, CNG, V.21) or SIT before a
//     decision → amd_machine_detected (reason beep | fax | sit), then
//     amd_tone_detected, then amd_stopped. A beep that starts while someone
//     is talking (speech up to BeepSpeechGapMs before its onset) may be a
//     held vowel or a whistle: it is held until it ends, dropped if speech
//     carries on after it, reported once BeepConfirmMs of quiet follow
//     (the human and no-speech rules wait meanwhile). The same screening
//     applies to the beep after a machine verdict.
//  2. Word count. The greeting holds thresholdWordCount words AND has
//     lasted thresholdWordCount × WordRuleMsPerWord (300 ms a word, at most
//     LongGreetingMs) from its first word → machine (word_count). Nobody
//     says N words in less time; when the count runs ahead of the clock,
//     noise or babble is being counted. With the default of 9 words the
//     rule needs 2.7 s; people answering with their name say 5–7 words in
//     2–3 s ("Hello, the Brown residence, Amy speaking"), which is why the
//     API's default is 9 and not Asterisk's 3.
//  3. Long greeting. The greeting's speech reaches LongGreetingMs (3 s,
//     more than a person says when answering) → machine (long_greeting).
//  4. Short greeting. Speech of at least MinHumanSpeechMs (a real word, not a
//     click) and at most HumanMaxGreetingMs, followed by HumanSilenceMs
//     (800 ms, as Asterisk) without speech → human
//     (short_greeting). Greetings between HumanMaxGreetingMs and
//     LongGreetingMs are ambiguous (a receptionist, or a terse voicemail):
//     the silence required grows linearly up to AmbiguousSilenceMs, which
//     gives a machine's beep (due 0.1–1 s after its greeting) or its next
//     phrase time to arrive. While something is sounding that is not yet a
//     word — a tone not yet confirmed, a burst not yet qualified, an onset —
//     the human rule waits for it to resolve (up to MaxSoundDeferMs), so a
//     beep or a next phrase that starts just as the silence runs out is
//     still heard.
//  5. No speech. Less than MinHumanSpeechMs of speech by noSpeechTimeoutMs →
//     amd_no_speech_detected (silence). Like the human rule it waits (up
//     to MaxSoundDeferMs) while something is sounding, so a person who
//     starts "Hello?" just as the timer runs out is heard.
//  6. Timeout. No verdict by decisionTimeoutMs → amd_decision_timeout.
//
// After a no-speech or timeout verdict the detector is done: amd_stopped
// (completed). After a human verdict it keeps listening for a late beep
// until toneTimeoutMs (counted from the verdict) passes: a recording that
// opened like a person ("Yeah, hello? … I'm not here, leave a message"), or
// whose short greeting ended just before HumanSilenceMs ran out, ends in a
// beep that follows its last word by LateBeepGapMs–LateBeepMaxGapMs. Such a
// beep is reported as amd_tone_detected (reason beep); then amd_stopped
// (completed), or amd_stopped (timeout) when the tone timeout passes
// without one. The verdict is not revised — exactly one decision — but the
// application learns it is talking to a recording.
// After a machine verdict it keeps listening:
// amd_machine_stopped_speaking once the greeting is followed by
// greetingCompletionTimeoutMs of silence (greeting_ended) or a tone (beep,
// or fax/sit for those tones); amd_tone_detected when a tone is confirmed
// while toneTimeoutMs (counted from the machine verdict) has not passed;
// amd_stopped after the tone (completed) or when the tone timeout passes
// (timeout).
//
// Finish (end of audio) before a decision decides from the evidence so far,
// with reason audio_ended: no speech → no_speech; a greeting shorter than the
// middle of the ambiguous zone and under thresholdWordCount words → human;
// otherwise → machine. Stop emits only
// amd_stopped (stopped); Fail emits amd_error then amd_stopped.
//
// Every event's confidence is in [0, 1] and grows with the margins by which
// the evidence cleared its thresholds (see evidence.go).
//
// Known limits, by design rather than by accident:
//   - A lone opener — one word such as "Hello?" (at most OpenerMaxMs of
//     speech) and then silence — is what a person says before waiting for
//     the caller, and also how recordings that pretend to be a person begin
//     ("Hello? … just kidding, leave a message"). At HumanSilenceMs the two
//     are indistinguishable, so after a lone opener the human rule waits
//     OpenerSilenceMs: the recording carries on into its greeting (machine),
//     the person says "Hello?" again (decided HumanSilenceMs after that) or
//     keeps waiting (human at OpenerSilenceMs). This costs one-word answers
//     about 1.5 s of latency; greetings longer than one word keep the fast
//     rule, so the median human verdict stays under 1 s after the first
//     utterance. Recordings whose opener is longer than one word ("Yeah,
//     hello?") are still called human; their beep is reported after the
//     human verdict (see above).
//   - Greetings of 2.5–3 s of speech without a beep sit where people naming
//     themselves and terse machines overlap; the rules lean human there.
//   - A beep the tone detector does not confirm is heard as a short word.
//   - Background talkers who start before the callee merge with the
//     callee's first words unless the callee is 20 dB louder (see
//     dsp.Segmenter); later background bursts are kept out.
//   - Audio that starts mid-word (no line noise before the first word) gives
//     the VAD no noise floor for that word: a one-word "Hi" in the very first
//     frames can be missed. Answered calls carry 200 ms or more of line
//     before anyone speaks; a floor prior was tried and cost more humans on
//     noisy lines than it saved.
const (
	// HumanSilenceMs is the silence after a short greeting that makes it a
	// person's: Asterisk's 800 ms. A voicemail's beep follows its greeting
	// within ~1 s and usually sooner; waiting longer would push the human
	// verdict's median latency past 1 s once lone openers wait
	// OpenerSilenceMs.
	HumanSilenceMs = 800
	// OpenerMaxMs is the most speech of a lone opener: one word such as
	// "Hello?" or "Yeah?", said alone. An opener followed by silence is
	// either a person waiting for the caller or a recording pretending to
	// be one ("Hello? … just kidding, leave a message"); the two differ only
	// in what comes after the pause.
	OpenerMaxMs = 700
	// OpenerSilenceMs is the silence after a lone opener that makes it a
	// person's. Recordings that open like a person pause 1–2 s before the
	// rest of their greeting; a person who hears nothing says "Hello?" again
	// after a similar pause, and that second utterance settles it within
	// HumanSilenceMs of its end.
	OpenerSilenceMs = 2300
	// AmbiguousSilenceMs is the silence required after a greeting as long as
	// LongGreetingMs; shorter ambiguous greetings need proportionally less.
	AmbiguousSilenceMs = 1600
	// HumanMaxGreetingMs is the most speech a person's answer holds: people
	// naming themselves ("Hello, Johnson residence, Amy speaking") voice up
	// to about 2.3 s. Above it the silence required grows (the ambiguous
	// zone); set lower, it held a fifth of medium greetings back past the
	// 1 s latency target on held-out corpora for one terse machine caught.
	HumanMaxGreetingMs = 2300
	// LongGreetingMs is greeting speech no person produces when answering.
	LongGreetingMs = 3000
	// MinHumanSpeechMs is the least speech that is a greeting rather than a
	// click, cough or line hit: a curt "Hi." or "Yes?" voices for 150–250 ms
	// (the VAD sees a little less of it), a click or line hit for tens.
	MinHumanSpeechMs = 150
	// WordRuleMsPerWord is the greeting time each of thresholdWordCount
	// words must account for before the word rule fires: 3.3 words a
	// second, faster than people speak, so a count that runs ahead of it is
	// counting something else (noise bursts, babble).
	WordRuleMsPerWord = 300
	// BeepSpeechGapMs: a beep whose onset comes less than this after the
	// last speech was sounding inside a word (the VAD's end-of-word lag is
	// 40–60 ms; machines leave 100 ms or more before their beep).
	BeepSpeechGapMs = 20
	// BeepConfirmMs of quiet after a beep heard inside speech confirm it: a
	// machine records after its beep, a person holding a vowel goes on
	// talking within a syllable.
	BeepConfirmMs = 250
	// MaxBeepHoldMs bounds how long such a beep is held (a tone that never
	// ends is reported).
	MaxBeepHoldMs = 3000
	// LateBeepGapMs and LateBeepMaxGapMs bound the quiet between the last
	// word and a beep heard after a human verdict. Machines leave 100 ms or
	// more before their beep and the VAD ends a word up to 40–60 ms late,
	// while a tone that starts as a word fades is a held vowel; and a
	// recording beeps within about a second of its greeting (1.5 s allows
	// for slow machines), while a tone long after a person last spoke (a
	// call-waiting tone) is no greeting's beep. The verdict already went to
	// a person, so a late beep must be unambiguous — stricter than
	// BeepSpeechGapMs.
	LateBeepGapMs    = 60
	LateBeepMaxGapMs = 1500
	// MaxSoundDeferMs bounds how long a sound that is not (yet) a word — a
	// tone being confirmed, a burst not yet qualified — holds back the
	// human rule.
	MaxSoundDeferMs = 1000
	// soundOnsetDB: a frame this far above floor + noise spread is the
	// start of something (the VAD needs two such frames to call speech).
	soundOnsetDB = 6
)
