//! An agent's command line, read the way its own parser reads it, so a
//! plugin can rewrite it (resume a conversation: drop the prompt, add the
//! resume flag). The plugin lists which options take a value; everything
//! else that does not start with `-` is a positional argument.

/// How an agent's options take values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// Options that always take the next argument (`--model <m>`).
    pub with_value: &'a [&'a str],
    /// Options that take the next argument when it does not start with
    /// `-` (`--resume [id]`, commander's `[value]`).
    pub optional_value: &'a [&'a str],
    /// Options that take every following argument up to the next option
    /// (`--add-dir <dirs...>`).
    pub variadic: &'a [&'a str],
}

/// One argument of a command line, as the agent's parser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// An option and the values it took (`--model`, `["opus"]`; a value
    /// given as `--model=opus` stays inside the option).
    Option(String, Vec<String>),
    /// A positional argument (a subcommand, a prompt).
    Positional(String),
}

impl Options<'_> {
    /// `args` (without the program) as the agent reads them. Everything
    /// after `--` is positional.
    pub fn parse(&self, args: &[String]) -> Vec<Arg> {
        let mut out = Vec::new();
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            if arg == "--" {
                out.extend(rest.by_ref().map(|a| Arg::Positional(a.clone())));
                break;
            }
            if !arg.starts_with('-') || arg == "-" {
                out.push(Arg::Positional(arg.clone()));
                continue;
            }
            let name = arg.as_str();
            let mut values = Vec::new();
            if !name.contains('=') {
                let takes = |list: &[&str]| list.contains(&name);
                if takes(self.with_value) {
                    values.extend(rest.next().cloned());
                } else if takes(self.optional_value) || takes(self.variadic) {
                    let many = takes(self.variadic);
                    while let Some(next) = rest.as_slice().first().filter(|n| !n.starts_with('-')) {
                        values.push(next.clone());
                        rest.next();
                        if !many {
                            break;
                        }
                    }
                }
            }
            out.push(Arg::Option(arg.clone(), values));
        }
        out
    }
}

/// The command line again, from parsed arguments. Positionals that look
/// like options are put after a `--` so the agent reads them as given.
pub fn unparse(args: &[Arg]) -> Vec<String> {
    let mut out = Vec::new();
    let mut tail = Vec::new();
    for arg in args {
        match arg {
            Arg::Option(name, values) => {
                out.push(name.clone());
                out.extend(values.iter().cloned());
            }
            Arg::Positional(p) if p.starts_with('-') && p != "-" => tail.push(p.clone()),
            Arg::Positional(p) => out.push(p.clone()),
        }
    }
    if !tail.is_empty() {
        out.push("--".into());
        out.extend(tail);
    }
    out
}

/// Whether `arg` is the option `name` (or one of its spellings), with or
/// without `=value`.
pub fn is_option(arg: &Arg, names: &[&str]) -> bool {
    match arg {
        Arg::Option(given, _) => {
            names.iter().any(|n| given == n || given.strip_prefix(n).is_some_and(|r| r.starts_with('=')))
        }
        Arg::Positional(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: Options =
        Options { with_value: &["--model", "-m"], optional_value: &["--resume", "-r"], variadic: &["--add-dir"] };

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn options_take_their_values_and_the_rest_is_positional() {
        let parsed =
            OPTS.parse(&strings(&["-p", "say hi", "--model", "opus", "--add-dir", "a", "b", "--resume", "--x=1"]));
        assert_eq!(
            parsed,
            vec![
                Arg::Option("-p".into(), vec![]),
                Arg::Positional("say hi".into()),
                Arg::Option("--model".into(), vec!["opus".into()]),
                Arg::Option("--add-dir".into(), vec!["a".into(), "b".into()]),
                Arg::Option("--resume".into(), vec![]),
                Arg::Option("--x=1".into(), vec![]),
            ]
        );
        assert_eq!(OPTS.parse(&strings(&["-r", "abc", "go"]))[0], Arg::Option("-r".into(), vec!["abc".into()]));
    }

    #[test]
    fn a_positional_that_looks_like_an_option_goes_after_a_double_dash() {
        let parsed = OPTS.parse(&strings(&["-p", "--", "-starts with a dash"]));
        assert_eq!(parsed[1], Arg::Positional("-starts with a dash".into()));
        assert_eq!(unparse(&parsed), strings(&["-p", "--", "-starts with a dash"]));
        assert!(is_option(&Arg::Option("--model=opus".into(), vec![]), &["--model"]));
        assert!(!is_option(&Arg::Option("--models".into(), vec![]), &["--model"]));
    }
}
