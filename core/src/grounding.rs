//! The catalog of guided grounding exercises: what each one is for and its
//! timed steps.
//!
//! Every exercise has a stable id such as `box-breathing`. Logged practices
//! store that id for good, so an id must never be renamed, reused or given to
//! a different exercise; an exercise that is no longer offered keeps its id
//! retired. An exercise's `steps` are one round; the whole run goes through
//! them `rounds` times, so a run has [`GroundingExercise::total_steps`] steps
//! and a logged practice's `steps_completed` ranges over
//! `0..=total_steps()` (0 for a practice stopped before the first step was
//! done, `total_steps()` for one finished in full).

use serde::Serialize;

/// One timed instruction of a grounding exercise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExerciseStep {
    /// What to do during this step, addressed to the person practicing.
    pub instruction: &'static str,
    /// How long the step lasts, in seconds.
    pub duration_seconds: u32,
}

/// A guided grounding exercise: a round of timed steps, gone through one or
/// more times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GroundingExercise {
    /// Stable identifier, such as `box-breathing`, stored with logged
    /// practices.
    pub id: &'static str,
    /// The name shown to the patient.
    pub name: &'static str,
    /// One or two sentences on what the exercise is good for.
    pub summary: &'static str,
    /// How many times `steps` is gone through (1 for exercises that do not
    /// repeat).
    pub rounds: u32,
    /// The steps of one round, in order.
    pub steps: &'static [ExerciseStep],
}

impl GroundingExercise {
    /// The number of steps in a whole run: steps per round times rounds.
    pub fn total_steps(&self) -> u32 {
        self.steps_per_round().saturating_mul(self.rounds)
    }

    /// The length of a whole run in seconds: one round's durations summed,
    /// times rounds.
    pub fn total_duration_seconds(&self) -> u32 {
        self.steps
            .iter()
            .fold(0_u32, |sum, step| sum.saturating_add(step.duration_seconds))
            .saturating_mul(self.rounds)
    }

    /// The step at `index` over the whole run (`0..total_steps()`), or `None`
    /// past the end.
    pub fn step(&self, index: u32) -> Option<&'static ExerciseStep> {
        if index >= self.total_steps() {
            return None;
        }
        let within_round = index.checked_rem(self.steps_per_round())?;
        self.steps.get(usize::try_from(within_round).ok()?)
    }

    fn steps_per_round(&self) -> u32 {
        u32::try_from(self.steps.len()).unwrap_or(u32::MAX)
    }
}

const fn step(instruction: &'static str, duration_seconds: u32) -> ExerciseStep {
    ExerciseStep {
        instruction,
        duration_seconds,
    }
}

const FIVE_SENSES_STEPS: &[ExerciseStep] = &[
    step(
        "Sit or stand somewhere comfortable and let your eyes wander slowly around \
         you. You are going to use your senses, one at a time, to arrive back in \
         the here and now.",
        20,
    ),
    step(
        "Find five things you can see. Take each one in for a moment: its color, \
         its shape, the way the light falls on it.",
        40,
    ),
    step(
        "Notice four things you can touch or feel. The seat beneath you, your feet \
         on the floor, the fabric on your skin, the air on your face.",
        35,
    ),
    step(
        "Listen for three things you can hear. Sounds close by, sounds far away, \
         even the quiet in between them.",
        30,
    ),
    step(
        "Find two things you can smell. If nothing stands out, bring your sleeve or \
         your hand near your nose and breathe in gently.",
        25,
    ),
    step(
        "Notice one thing you can taste. It might be a sip of water, or simply the \
         taste already in your mouth.",
        20,
    ),
    step(
        "Take one slow breath. Notice how you feel now compared with when you \
         started.",
        20,
    ),
];

const BOX_BREATHING_STEPS: &[ExerciseStep] = &[
    step("Breathe in slowly through your nose, counting to four.", 4),
    step("Hold your breath gently, counting to four.", 4),
    step(
        "Breathe out slowly through your mouth, counting to four.",
        4,
    ),
    step("Pause with your lungs empty, counting to four.", 4),
];

const BREATHING_4_7_8_STEPS: &[ExerciseStep] = &[
    step(
        "Breathe in quietly through your nose for a count of four.",
        4,
    ),
    step("Hold your breath for a count of seven.", 7),
    step(
        "Breathe out fully through your mouth for a count of eight, letting it \
         make a soft whooshing sound.",
        8,
    ),
];

const BODY_SCAN_STEPS: &[ExerciseStep] = &[
    step(
        "Sit or lie down in a way that feels supported. Let your eyes close or rest \
         your gaze on the floor, and take a few unhurried breaths.",
        45,
    ),
    step(
        "Bring your attention to your feet. Notice the soles, the toes, any warmth, \
         coolness or pressure where they touch the ground.",
        40,
    ),
    step(
        "Move your attention up through your ankles, calves, knees and thighs. If \
         you find tightness, just notice it and let your breath reach it.",
        45,
    ),
    step(
        "Rest your attention on your belly. Feel it rise as you breathe in and \
         soften as you breathe out.",
        45,
    ),
    step(
        "Notice your chest and your heartbeat. There is nothing to change; simply \
         feel your breath moving in and out.",
        45,
    ),
    step(
        "Let your attention travel across your shoulders and down your arms to your \
         fingertips. Let your shoulders drop a little if they want to.",
        50,
    ),
    step(
        "Notice your neck, jaw, face and the top of your head. Let your jaw loosen \
         and the space between your eyebrows soften.",
        45,
    ),
    step(
        "Now sense your whole body at once, breathing and held by the surface under \
         you. When you are ready, wiggle your fingers and toes and open your eyes.",
        60,
    ),
];

const BUTTERFLY_HUG_STEPS: &[ExerciseStep] = &[
    step(
        "Cross your arms over your chest so that each hand rests just below the \
         opposite collarbone. Let your eyes close or soften your gaze.",
        15,
    ),
    step(
        "Tap your hands slowly, left then right, like the wings of a butterfly. \
         Keep breathing at an easy pace.",
        30,
    ),
    step(
        "Keep tapping gently and notice what is here: thoughts, feelings, \
         sensations. Let them pass by like clouds, without holding on.",
        20,
    ),
    step(
        "Stop tapping and let your hands rest where they are. Take a slow breath \
         and feel the steadiness of your own touch.",
        15,
    ),
];

const SAFE_PLACE_STEPS: &[ExerciseStep] = &[
    step(
        "Bring to mind a place where you feel calm and safe. It can be somewhere \
         you have been, somewhere you would like to go, or somewhere you imagine.",
        45,
    ),
    step(
        "Look around your place. Notice the colors, the light, the shapes, what is \
         near you and what is far away.",
        45,
    ),
    step(
        "Listen to your place. Perhaps there is wind, water, birdsong, soft voices, \
         or a peaceful silence.",
        40,
    ),
    step(
        "Notice what you can smell and feel there: the air on your skin, the \
         ground under you, the warmth or coolness around you.",
        45,
    ),
    step(
        "Let the feeling of safety grow. Notice where you feel it in your body and \
         let it spread, as much as feels comfortable.",
        60,
    ),
    step(
        "Choose a word or short phrase for this place. Say it to yourself a few \
         times, so you can use it later to find your way back here.",
        40,
    ),
    step(
        "Take one more look around, knowing you can return whenever you need to. \
         Then slowly bring your attention back to the room and open your eyes.",
        30,
    ),
];

const FEET_ON_THE_FLOOR_STEPS: &[ExerciseStep] = &[
    step(
        "Sit with both feet flat on the floor. Notice the ground holding you up.",
        15,
    ),
    step(
        "Press your feet gently into the floor and feel the firmness beneath them. \
         Then let the pressure go.",
        20,
    ),
    step(
        "Wiggle your toes and notice the sensations inside your shoes or against \
         the ground.",
        15,
    ),
    step(
        "Rock slowly from your heels to your toes and back again, feeling your \
         weight shift.",
        20,
    ),
    step(
        "Let your feet settle. Say quietly to yourself where you are and what day \
         it is.",
        20,
    ),
];

static CATALOG: &[GroundingExercise] = &[
    GroundingExercise {
        id: "five-senses",
        name: "5-4-3-2-1 senses",
        summary: "Uses your five senses to bring your attention back to your \
                  surroundings. Helpful when your thoughts are racing or you feel \
                  far away.",
        rounds: 1,
        steps: FIVE_SENSES_STEPS,
    },
    GroundingExercise {
        id: "box-breathing",
        name: "Box breathing",
        summary: "Four even counts in, hold, out and hold. A steady rhythm that can \
                  settle a busy mind and an anxious body.",
        rounds: 6,
        steps: BOX_BREATHING_STEPS,
    },
    GroundingExercise {
        id: "breathing-4-7-8",
        name: "4-7-8 breathing",
        summary: "A long, slow out-breath that helps your body calm down. Good for \
                  moments of worry or before sleep.",
        rounds: 4,
        steps: BREATHING_4_7_8_STEPS,
    },
    GroundingExercise {
        id: "body-scan",
        name: "Body scan",
        summary: "Moves your attention slowly through your body, from your feet to \
                  your head. Helps you notice tension and feel present in your body.",
        rounds: 1,
        steps: BODY_SCAN_STEPS,
    },
    GroundingExercise {
        id: "butterfly-hug",
        name: "Butterfly hug",
        summary: "Gentle, alternating taps on your chest that can soothe strong \
                  feelings. Something you can do for yourself anywhere.",
        rounds: 3,
        steps: BUTTERFLY_HUG_STEPS,
    },
    GroundingExercise {
        id: "safe-place",
        name: "Safe place",
        summary: "Builds a calm place in your imagination that you can return to. \
                  Useful to practice before a session and to lean on when things \
                  feel hard.",
        rounds: 1,
        steps: SAFE_PLACE_STEPS,
    },
    GroundingExercise {
        id: "feet-on-the-floor",
        name: "Feet on the floor",
        summary: "A short, simple way to feel the ground under you. Handy when you \
                  need to steady yourself quickly.",
        rounds: 1,
        steps: FEET_ON_THE_FLOOR_STEPS,
    },
];

/// Every grounding exercise on offer, in the order they are listed to the
/// patient.
pub fn catalog() -> &'static [GroundingExercise] {
    CATALOG
}

/// The exercise with this id, or `None` if there is none.
pub fn find(id: &str) -> Option<&'static GroundingExercise> {
    CATALOG.iter().find(|e| e.id == id)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    const REQUIRED_IDS: [&str; 6] = [
        "five-senses",
        "box-breathing",
        "breathing-4-7-8",
        "body-scan",
        "butterfly-hug",
        "safe-place",
    ];

    #[test]
    fn ids_are_unique() {
        let mut seen = HashSet::new();
        for e in catalog() {
            assert!(seen.insert(e.id), "duplicate exercise id {}", e.id);
        }
    }

    #[test]
    fn required_exercises_are_present() {
        for id in REQUIRED_IDS {
            assert!(find(id).is_some(), "missing exercise {id}");
        }
        assert_eq!(find("unknown"), None);
        assert_eq!(find(""), None);
    }

    #[test]
    fn find_returns_each_exercise() {
        for e in catalog() {
            assert_eq!(find(e.id), Some(e));
        }
    }

    #[test]
    fn exercises_are_well_formed() {
        for e in catalog() {
            assert!(!e.steps.is_empty(), "{} has no steps", e.id);
            assert!(e.rounds >= 1, "{} has no rounds", e.id);
            assert!(!e.name.trim().is_empty(), "{} has no name", e.id);
            assert!(!e.summary.trim().is_empty(), "{} has no summary", e.id);
            assert!(!e.summary.contains("  "), "{} summary spacing", e.id);
            for s in e.steps {
                assert!(
                    (1..=300).contains(&s.duration_seconds),
                    "{}: step duration {} out of range",
                    e.id,
                    s.duration_seconds
                );
                assert!(!s.instruction.trim().is_empty(), "{}", e.id);
                assert!(!s.instruction.contains("  "), "{} step spacing", e.id);
            }
        }
    }

    #[test]
    fn box_breathing_totals() {
        let e = find("box-breathing");
        assert!(e.is_some());
        let Some(e) = e else { return };
        assert_eq!(e.steps.len(), 4);
        assert_eq!(e.rounds, 6);
        assert_eq!(e.total_steps(), 24);
        assert_eq!(e.total_duration_seconds(), 96);
    }

    #[test]
    fn step_indexes_over_the_whole_run() {
        for e in catalog() {
            let total = e.total_steps();
            assert_eq!(e.step(0), e.steps.first());
            assert_eq!(e.step(total - 1), e.steps.last());
            assert_eq!(e.step(total), None);
            assert_eq!(e.step(u32::MAX), None);
            let count = (0..total).filter(|&i| e.step(i).is_some()).count();
            assert_eq!(u32::try_from(count), Ok(total));
        }
        let e = find("box-breathing");
        assert!(e.is_some());
        let Some(e) = e else { return };
        assert_eq!(e.step(4), e.steps.first());
        assert_eq!(e.step(7), e.steps.get(3));
    }

    #[test]
    fn arithmetic_never_overflows() {
        const LONG: &[ExerciseStep] = &[step("x", u32::MAX), step("y", u32::MAX)];
        let huge = GroundingExercise {
            id: "huge",
            name: "huge",
            summary: "huge",
            rounds: u32::MAX,
            steps: LONG,
        };
        assert_eq!(huge.total_steps(), u32::MAX);
        assert_eq!(huge.total_duration_seconds(), u32::MAX);
        assert_eq!(huge.step(u32::MAX), None);
        assert_eq!(huge.step(u32::MAX - 1), LONG.first());

        let empty = GroundingExercise {
            id: "empty",
            name: "empty",
            summary: "empty",
            rounds: 3,
            steps: &[],
        };
        assert_eq!(empty.total_steps(), 0);
        assert_eq!(empty.total_duration_seconds(), 0);
        assert_eq!(empty.step(0), None);

        let no_rounds = GroundingExercise { rounds: 0, ..huge };
        assert_eq!(no_rounds.total_steps(), 0);
        assert_eq!(no_rounds.step(0), None);
    }

    #[test]
    fn serializes_with_camel_case_keys() -> Result<(), serde_json::Error> {
        let value = serde_json::to_value(find("box-breathing"))?;
        let mut keys: Vec<&str> = value
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        assert_eq!(keys, ["id", "name", "rounds", "steps", "summary"]);
        assert_eq!(value["steps"][0]["durationSeconds"], 4);
        assert!(value["steps"][0]["instruction"].is_string());
        assert!(value["steps"][0].get("duration_seconds").is_none());
        Ok(())
    }
}
