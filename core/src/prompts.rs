//! The library of writing prompts offered to patients, filed by [`Phase`].
//!
//! Each prompt has an id such as `prep-01`, `dose-01` or `integ-01`: the
//! phase prefix, a dash and a two-digit number. Journal entries store that id
//! for good, so ids are stable: never reuse, renumber or repurpose one, and
//! never change a prompt's meaning under an existing id. A prompt that is no
//! longer wanted is retired: take it out of the list and add its id to
//! `RETIRED_IDS` in this module's tests, so that no later prompt can take it.
//! New prompts get the next unused number of their phase. Small wording fixes
//! that keep a prompt's meaning are fine.

use serde::Serialize;

use crate::phase::Phase;
use crate::phase::Phase::{Dosing, Integration, Preparation};

/// One writing prompt: a short title and the question or invitation itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Prompt {
    /// Stable identifier, such as `prep-01`, stored with the entries written
    /// to this prompt.
    pub id: &'static str,
    /// The phase of treatment this prompt belongs to.
    pub phase: Phase,
    /// A short label for lists (at most 60 characters).
    pub title: &'static str,
    /// The question or invitation shown to the patient (at most 300
    /// characters).
    pub text: &'static str,
}

const fn prompt(id: &'static str, phase: Phase, title: &'static str, text: &'static str) -> Prompt {
    Prompt {
        id,
        phase,
        title,
        text,
    }
}

static PROMPTS: &[Prompt] = &[
    // Preparation: intentions, hopes, fears, support, safety, letting go, the body.
    prompt(
        "prep-01",
        Preparation,
        "What brings you here",
        "Think about what led you to this treatment. What has been weighing on you, \
         and what would you like to feel different a few months from now?",
    ),
    prompt(
        "prep-02",
        Preparation,
        "Your intention",
        "If you could carry one intention into your session, what would it be? \
         Try to put it into a single sentence you can hold on to, like a thread \
         you can follow back.",
    ),
    prompt(
        "prep-03",
        Preparation,
        "What you hope for",
        "What are you hoping for, from the session or from the weeks after it? \
         Write down the big hopes and the small ones, even the ones that feel \
         out of reach.",
    ),
    prompt(
        "prep-04",
        Preparation,
        "Worries and fears",
        "What worries you about the session? Name each fear as plainly as you can. \
         Next to each one, write something that would help you feel a little \
         safer with it.",
    ),
    prompt(
        "prep-05",
        Preparation,
        "The people on your side",
        "Who and what steadies you right now? List the people, places and things \
         you can lean on, and how you could reach them in the days around your \
         session.",
    ),
    prompt(
        "prep-06",
        Preparation,
        "What helps you feel safe",
        "What helps you feel safe somewhere new or uncertain? Think about the room, \
         the light, the music, what you wear, who is nearby. What would you like \
         your care team to know?",
    ),
    prompt(
        "prep-07",
        Preparation,
        "Something to set down",
        "Is there something you have been carrying that you would be willing to \
         set down, even for a while? A belief, a habit, an old story about \
         yourself. What might it feel like to loosen your grip on it?",
    ),
    prompt(
        "prep-08",
        Preparation,
        "Checking in with your body",
        "Take a slow breath and move your attention from your head down to your \
         feet. Where do you notice tension, ease, heaviness or warmth? Write what \
         you find without trying to change it.",
    ),
    prompt(
        "prep-09",
        Preparation,
        "If it gets hard",
        "Sessions can sometimes bring up difficult feelings. What would you want to \
         hear in that moment? Write a few kind, steady words to yourself that you \
         can come back to.",
    ),
    prompt(
        "prep-10",
        Preparation,
        "Grounding that works for you",
        "Which grounding skills have you tried so far? Which ones helped, and which \
         did not quite fit? Note the one you would most like to reach for if you \
         start to feel unsteady.",
    ),
    prompt(
        "prep-11",
        Preparation,
        "A note to your future self",
        "Write a short note to the you who will come out of the session. What do \
         you want that person to know, or to be gentle about?",
    ),
    prompt(
        "prep-12",
        Preparation,
        "Questions you still have",
        "What questions do you still have about the session or what comes after \
         it? Write them down so you can bring them to your next appointment.",
    ),
    // Dosing: written during the hours right after a session.
    prompt(
        "dose-01",
        Dosing,
        "First words",
        "Before anything else, jot down whatever is there right now. Single words, \
         fragments, colors, half-thoughts. Nothing needs to make sense yet.",
    ),
    prompt(
        "dose-02",
        Dosing,
        "Images and scenes",
        "What did you see or imagine? Describe any images, places, shapes, patterns \
         or scenes, in as much or as little detail as you remember.",
    ),
    prompt(
        "dose-03",
        Dosing,
        "Sensations in your body",
        "What did your body feel during the session? Lightness, heaviness, \
         movement, warmth, cold, tingling. Where did you feel it, and how does \
         your body feel now?",
    ),
    prompt(
        "dose-04",
        Dosing,
        "Feelings that came up",
        "Which emotions showed up, even briefly? You might name them, describe \
         where you felt them in your body, or note how they changed as the \
         session went on.",
    ),
    prompt(
        "dose-05",
        Dosing,
        "What felt important",
        "Was there a moment that felt meaningful or important, even if you cannot \
         say why? Describe it in whatever way comes to you.",
    ),
    prompt(
        "dose-06",
        Dosing,
        "Words and messages",
        "Did any words, thoughts or realizations come to you? Write them down the \
         way they came, without tidying them up. You can make sense of them later.",
    ),
    prompt(
        "dose-07",
        Dosing,
        "What was hard",
        "Was anything uncomfortable, confusing or frightening? Write about it only \
         as far as feels okay today. It is fine to leave the rest for another \
         time, or for your therapist.",
    ),
    prompt(
        "dose-08",
        Dosing,
        "People who appeared",
        "Did anyone come to mind or seem to be with you during the session, from \
         your life now or from the past? What was it like to meet them there?",
    ),
    prompt(
        "dose-09",
        Dosing,
        "How you felt as yourself",
        "How did you experience yourself? Some people feel larger, smaller, far \
         away or very close. What was your sense of who and where you were?",
    ),
    prompt(
        "dose-10",
        Dosing,
        "Coming back",
        "What was it like to return to the room? What helped you land, and what \
         would you like to have close by next time?",
    ),
    prompt(
        "dose-11",
        Dosing,
        "Your intention in the session",
        "Think back to the intention you brought in. Did it show up in any way, \
         directly or from an unexpected angle? It is okay if it did not.",
    ),
    prompt(
        "dose-12",
        Dosing,
        "Caring for yourself now",
        "How are you feeling at this moment? What do you need over the next few \
         hours to look after yourself: rest, food, quiet, company?",
    ),
    // Integration: meaning, daily life, relationships, kindness, next steps.
    prompt(
        "integ-01",
        Integration,
        "What stays with you",
        "Now that some time has passed, which parts of the session keep coming \
         back to you? Why do you think it is those parts in particular?",
    ),
    prompt(
        "integ-02",
        Integration,
        "Finding meaning",
        "Pick one image, feeling or moment from the session. If it were trying to \
         tell you something about your life, what might that be? There is no \
         right answer.",
    ),
    prompt(
        "integ-03",
        Integration,
        "Your intention, looked at again",
        "Read back the intention you set before the session. How does it look to \
         you now? Would you keep it as it is, change its words, or set a new one?",
    ),
    prompt(
        "integ-04",
        Integration,
        "Changes in your days",
        "Have you noticed anything different since the session in how you sleep, \
         eat, move, react or spend your time? Write down even the small things.",
    ),
    prompt(
        "integ-05",
        Integration,
        "You and the people around you",
        "How are you showing up with the people in your life? Is there a \
         relationship you see differently now, or a conversation you would like \
         to have?",
    ),
    prompt(
        "integ-06",
        Integration,
        "Being kind to yourself",
        "Think of something you have been hard on yourself about. What would you \
         say to a close friend in the same place? Try saying those words to \
         yourself.",
    ),
    prompt(
        "integ-07",
        Integration,
        "What to carry forward",
        "Of everything that came up, what do you most want to keep? Put it into a \
         few words or a phrase you can return to on harder days.",
    ),
    prompt(
        "integ-08",
        Integration,
        "One small next step",
        "Choose one small, doable step that honors what you have learned. What is \
         it, when will you take it, and what might get in the way?",
    ),
    prompt(
        "integ-09",
        Integration,
        "Old patterns",
        "Did you notice yourself slipping into an old pattern lately? What happened \
         just before, and what might you try the next time it comes up?",
    ),
    prompt(
        "integ-10",
        Integration,
        "Still unresolved",
        "Is anything from the session still puzzling or unfinished for you? Write \
         it down, and note whether you would like to explore it with your \
         therapist.",
    ),
    prompt(
        "integ-11",
        Integration,
        "Gratitude",
        "What are you grateful for right now? It could be a person, a moment from \
         the session, your own courage, or something ordinary from today.",
    ),
    prompt(
        "integ-12",
        Integration,
        "Then and now",
        "Compare where you are today with where you were before you began. What \
         has shifted, what has not yet, and what are you hoping for next?",
    ),
];

/// Every prompt, grouped by phase in the order Preparation, Dosing,
/// Integration, and by id within each phase.
pub fn all() -> &'static [Prompt] {
    PROMPTS
}

/// The prompts of one phase, in id order.
pub fn for_phase(phase: Phase) -> impl Iterator<Item = &'static Prompt> {
    PROMPTS.iter().filter(move |p| p.phase == phase)
}

/// The prompt with this id, or `None` if no current prompt has it (an
/// unknown or retired id).
pub fn find(id: &str) -> Option<&'static Prompt> {
    PROMPTS.iter().find(|p| p.id == id)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// Ids of prompts that have been retired. They must never be used again.
    const RETIRED_IDS: &[&str] = &[];

    fn prefix(phase: Phase) -> &'static str {
        match phase {
            Phase::Preparation => "prep-",
            Phase::Dosing => "dose-",
            Phase::Integration => "integ-",
        }
    }

    #[test]
    fn ids_are_unique() {
        let mut seen = HashSet::new();
        for p in all() {
            assert!(seen.insert(p.id), "duplicate prompt id {}", p.id);
        }
    }

    #[test]
    fn ids_match_their_phase_prefix_and_format() {
        for p in all() {
            let number = p.id.strip_prefix(prefix(p.phase));
            assert!(number.is_some(), "{} does not match {:?}", p.id, p.phase);
            let number = number.unwrap_or_default();
            assert_eq!(number.len(), 2, "{} needs a two-digit number", p.id);
            assert!(number.bytes().all(|b| b.is_ascii_digit()), "{}", p.id);
            assert_ne!(number, "00", "{} numbering starts at 01", p.id);
        }
    }

    #[test]
    fn retired_ids_are_not_reused() {
        for id in RETIRED_IDS {
            assert!(find(id).is_none(), "retired id {id} is in use again");
        }
    }

    #[test]
    fn grouped_by_phase_in_order() {
        assert!(all().windows(2).all(|w| w[0].phase <= w[1].phase));
        assert!(
            all()
                .windows(2)
                .filter(|w| w[0].phase == w[1].phase)
                .all(|w| w[0].id < w[1].id)
        );
    }

    #[test]
    fn every_phase_has_enough_prompts() {
        for phase in Phase::ALL {
            let count = for_phase(phase).count();
            assert!(count >= 8, "{phase} has only {count} prompts");
            assert!(for_phase(phase).all(|p| p.phase == phase));
        }
        let total: usize = Phase::ALL.iter().map(|&ph| for_phase(ph).count()).sum();
        assert_eq!(total, all().len());
    }

    #[test]
    fn find_returns_each_prompt_and_none_for_unknown() {
        for p in all() {
            assert_eq!(find(p.id), Some(p));
        }
        assert_eq!(find("prep-99"), None);
        assert_eq!(find(""), None);
        assert_eq!(find("PREP-01"), None);
        assert_eq!(find("prep-1"), None);
    }

    #[test]
    fn titles_and_texts_are_within_limits() {
        for p in all() {
            assert!(!p.title.trim().is_empty(), "{} has no title", p.id);
            assert!(!p.text.trim().is_empty(), "{} has no text", p.id);
            assert!(p.title.chars().count() <= 60, "{} title too long", p.id);
            assert!(p.text.chars().count() <= 300, "{} text too long", p.id);
            assert!(!p.text.contains("  "), "{} has a double space", p.id);
        }
    }

    #[test]
    fn serializes_with_camel_case_keys() -> Result<(), serde_json::Error> {
        let p = find("integ-01");
        assert!(p.is_some());
        let value = serde_json::to_value(p)?;
        let object = value.as_object();
        assert!(object.is_some());
        let mut keys: Vec<&str> = object
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        assert_eq!(keys, ["id", "phase", "text", "title"]);
        assert_eq!(value["id"], "integ-01");
        assert_eq!(value["phase"], "integration");
        Ok(())
    }
}
