//! What contracts 0.2.0 and 0.3.0 share, written once: the host's side of
//! the `time-zones` import and every call but `spec` and the wall's (0.3.0
//! reports walls through `observe`). Each version module
//! expands [`since_v0_2_calls!`] next to its own generated bindings, whose
//! types have the same names in both.

/// Expand inside a version module that has run `bindgen!` on its WIT and
/// imported `time_zones`, `CivilTime` and `api` (the `account-auth` exports).
macro_rules! since_v0_2_calls {
    () => {
        /// Answered from the host's time-zone database (the system's, else the
        /// copy built into accounts).
        impl time_zones::Host for SandboxState {
            fn instant_of(&mut self, zone: String, civil: CivilTime) -> Option<i64> {
                let zone = jiff::tz::TimeZone::get(&zone).ok()?;
                let (month, day, hour, minute, second) =
                    (civil.month, civil.day, civil.hour, civil.minute, civil.second);
                let datetime = jiff::civil::DateTime::new(
                    civil.year,
                    i8::try_from(month).ok()?,
                    i8::try_from(day).ok()?,
                    i8::try_from(hour).ok()?,
                    i8::try_from(minute).ok()?,
                    i8::try_from(second).ok()?,
                    0,
                )
                .ok()?;
                // "Compatible": a time skipped by a jump moves forward, a repeated
                // time takes its first instant (documented in the WIT).
                Some(datetime.to_zoned(zone).ok()?.timestamp().as_second())
            }

            fn civil_at(&mut self, zone: String, instant: i64) -> Option<CivilTime> {
                let zone = jiff::tz::TimeZone::get(&zone).ok()?;
                let dt = jiff::Timestamp::from_second(instant).ok()?.to_zoned(zone).datetime();
                Some(CivilTime {
                    year: dt.year(),
                    month: dt.month() as u8,
                    day: dt.day() as u8,
                    hour: dt.hour() as u8,
                    minute: dt.minute() as u8,
                    second: dt.second() as u8,
                })
            }
        }

        pub(super) fn validate_token(
            p: &Plugin,
            store: &mut Store<SandboxState>,
            token: &str,
        ) -> wasmtime::Result<Result<(), String>> {
            p.accounts_auth_account_auth().call_validate_token(store, token)
        }

        fn account(req: &AccountRequest) -> wasmtime::Result<api::Account> {
            Ok(api::Account {
                name: req.name.to_owned(),
                config_dir: config_dir_str(req)?,
                token: req.token.as_ref().map(|t| t.expose().to_owned()),
                now: req.now,
            })
        }

        pub(super) fn launch_env(
            p: &Plugin,
            store: &mut Store<SandboxState>,
            req: &AccountRequest,
        ) -> wasmtime::Result<Result<Vec<(String, String)>, String>> {
            p.accounts_auth_account_auth().call_launch_env(store, &account(req)?)
        }

        pub(super) fn credential_status(
            p: &Plugin,
            store: &mut Store<SandboxState>,
            req: &AccountRequest,
        ) -> wasmtime::Result<CredentialStatus> {
            let raw = p.accounts_auth_account_auth().call_credential_status(store, &account(req)?)?;
            Ok(CredentialStatus {
                state: match raw.state {
                    api::LoginState::Live => LoginState::Live,
                    api::LoginState::Expired => LoginState::Expired,
                    api::LoginState::Missing => LoginState::Missing,
                },
                expires_at: raw.expires_at,
                identity: raw.identity.map(Untrusted::new),
                plan: raw.plan.map(Untrusted::new),
            })
        }
    };
}

pub(super) use since_v0_2_calls;
