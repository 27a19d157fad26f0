//! Rotation that keeps the conversation: after a wall, find the run's
//! conversation in the old account's config dir (the plugin says which
//! files), carry it to the next account's (`carry`, the host's rules), and
//! start the agent with the plugin's resume argv. Anything that stands in
//! the way is one line on stderr, and the agent starts afresh as before.

use crate::carry;
use crate::launch::{self, Launch};
use crate::notice;
use crate::plugin::{Conversation, ConversationQuery, Plugin};
use crate::roster::{Account, ResumeSettings, Roster, TokenSource};
use crate::token_store::HOST_TOKEN_FILE;
use crate::untrusted::Redactor;

/// Most bytes kept from the start and from the end of a run's output,
/// where agents print their session id (stream-json's first line, the
/// JSON result's last).
const SAMPLE_BYTES: usize = 8 * 1024;

/// The start and the end of a run's output, as plain text.
#[derive(Default)]
pub struct OutputSample {
    head: String,
    tail: String,
}

impl OutputSample {
    pub fn push(&mut self, text: &str) {
        let room = SAMPLE_BYTES.saturating_sub(self.head.len());
        let cut = text.floor_char_boundary(room);
        self.head.push_str(&text[..cut]);
        self.tail.push_str(&text[cut..]);
        if self.tail.len() > 2 * SAMPLE_BYTES {
            let from = self.tail.len() - SAMPLE_BYTES;
            self.tail = self.tail[self.tail.ceil_char_boundary(from)..].to_owned();
        }
    }

    pub fn text(&self) -> String {
        let from = self.tail.len().saturating_sub(SAMPLE_BYTES);
        format!("{}\n{}", self.head, &self.tail[self.tail.ceil_char_boundary(from)..])
    }
}

/// What one walled run leaves for the next: when it started, where, and
/// what it printed.
pub struct Ended<'a> {
    pub launch: &'a Launch,
    pub started_at: i64,
    pub output: String,
}

/// The argv that resumes the walled run's conversation on `next`, with
/// its files carried there; `None` (said on stderr) to start afresh.
pub fn resumed_argv(
    roster: &Roster,
    plugin: &Plugin<'_>,
    redactor: &Redactor,
    settings: &ResumeSettings,
    argv: &[String],
    ended: &Ended<'_>,
    next: &Launch,
) -> Option<Vec<String>> {
    let (from, to) = (account(roster, &ended.launch.env.account)?, account(roster, &next.env.account)?);
    let afresh = |why: String| {
        let line = format!("not resuming the conversation on {}: {why}; starting afresh", to.name);
        notice::warn(redactor.scrub_str(&line));
        None
    };
    let cwd = std::env::current_dir().ok().and_then(|d| d.to_str().map(str::to_owned));
    // A second of slack: file times and our clock round differently.
    let query = ConversationQuery { id: None, cwd, since: Some(ended.started_at - 1), output: ended.output.clone() };
    let found = match plugin.find_conversation(&launch::request(from, None, crate::clock::now()), &query) {
        Ok(Some(found)) => found,
        Ok(None) => {
            return afresh(format!("{} keeps no conversation of this run in {}", plugin.spec().label, from.name));
        }
        Err(e) => return afresh(e.to_string()),
    };
    continue_on(plugin, redactor, settings, argv, from, &found, to).map_or_else(afresh, Some)
}

/// Carry `found` from `from` to `to` and give the argv that resumes it
/// there (from `argv`, the command as first given); `Err` says why not.
/// What the plugin named (an id, an owner) is masked like a wall reason
/// before it reaches stderr.
pub fn continue_on(
    plugin: &Plugin<'_>,
    redactor: &Redactor,
    settings: &ResumeSettings,
    argv: &[String],
    from: &Account,
    found: &Conversation,
    to: &Account,
) -> Result<Vec<String>, String> {
    // On its own account a conversation stays with the login that made it.
    if let Some(owner) = found.bound_to.as_ref().filter(|_| from.name != to.name) {
        let request = launch::request(to, None, crate::clock::now());
        let identity = plugin.credential_status(&request).ok().flatten().and_then(|s| s.identity);
        if identity.as_ref().map(|i| i.raw()) != Some(owner.raw()) {
            return Err(format!(
                "conversation {} is tied to the login that made it ({owner}), and {} is another login",
                found.id, to.name
            ));
        }
    }
    let resumed = match plugin.resume_argv(argv, found.id.raw(), &settings.prompt) {
        Ok(Ok(resumed)) => resumed,
        Ok(Err(reason)) => return Err(reason.to_string()),
        Err(e) => return Err(e.to_string()),
    };
    let protected = protected_files(plugin, from);
    let carried = carry::carry(&from.config_dir, &to.config_dir, &found.files, &protected, settings.max_bytes)?;
    let files = carried.copied + carried.already_there;
    let whence = if from.name == to.name { String::new() } else { format!(", carried from {}", from.name) };
    let line = format!(
        "resuming conversation {} on {} ({files} file{}, {}{whence})",
        found.id,
        to.name,
        if files == 1 { "" } else { "s" },
        crate::bounded::human(carried.bytes),
    );
    notice::note(redactor.scrub_str(&line));
    Ok(resumed)
}

fn account<'r>(roster: &'r Roster, name: &str) -> Option<&'r Account> {
    roster.accounts.iter().find(|a| a.name == name)
}

/// The files no conversation may carry: the plugin's credential and token
/// files, the host's token file, and the account's own token file when it
/// lies inside its config dir.
fn protected_files(plugin: &Plugin<'_>, account: &Account) -> Vec<String> {
    let spec = plugin.spec();
    let mut names: Vec<String> =
        [spec.credential_file_name.clone(), spec.token_file_name.clone()].into_iter().flatten().collect();
    names.push(HOST_TOKEN_FILE.to_owned());
    if let TokenSource::File(path) = &account.token
        && let Ok(inside) = path.strip_prefix(&account.config_dir)
    {
        names.extend(inside.to_str().map(str::to_owned));
    }
    names.retain(|n| !n.is_empty());
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_keeps_the_start_and_the_end() {
        let mut sample = OutputSample::default();
        sample.push("{\"session_id\":\"first\"}\n");
        for _ in 0..10_000 {
            sample.push("é filler line\n");
        }
        sample.push("{\"session_id\":\"last\"}\n");
        let text = sample.text();
        assert!(text.starts_with("{\"session_id\":\"first\"}"));
        assert!(text.ends_with("{\"session_id\":\"last\"}\n"));
        assert!(text.len() <= 2 * SAMPLE_BYTES + 8, "{}", text.len());
    }
}
