//! The seam between the engine and a world that carries out its actions.
//!
//! The simulator's model and the node agent's real hypervisor driver both
//! implement [`World`]; [`carry_out`] hands them the engine's actions, so
//! both answer the very same calls, and both report back through the same
//! [`crate::Input`]s.

#[cfg(doc)]
use crate::engine::Engine;
use crate::engine::{Action, MigrationId};
use crate::event::Event;

/// What a world must do for the engine.
pub trait World {
    /// Why the world could not take an action in (a broken invariant in the
    /// simulator, a dead channel in the agent).
    type Error;

    /// Start live-migrating `vm` from `from` to `to`. Later, answer with
    /// exactly one [`crate::Input::MigrationCompleted`] or
    /// [`crate::Input::MigrationFailed`] carrying `id`, unless it is aborted.
    fn start_migration(
        &mut self,
        id: MigrationId,
        vm: &str,
        from: &str,
        to: &str,
    ) -> Result<(), Self::Error>;

    /// Cancel migration `id`: `vm` must keep running on `from`. Answer with
    /// [`crate::Input::MigrationCancelled`] once it has stopped, or with
    /// [`crate::Input::MigrationCompleted`] if it completed first.
    fn abort_migration(
        &mut self,
        id: MigrationId,
        vm: &str,
        from: &str,
        to: &str,
    ) -> Result<(), Self::Error>;

    /// Record or publish an event for operators.
    fn report(&mut self, event: Event) -> Result<(), Self::Error>;
}

/// Carries out `actions` (taken from [`Engine::take_actions`]) on `world`,
/// in order.
///
/// # Errors
/// The first error of the world; the actions after it are not carried out.
pub fn carry_out<W: World>(
    world: &mut W,
    actions: impl IntoIterator<Item = Action>,
) -> Result<(), W::Error> {
    for action in actions {
        match action {
            Action::StartMigration { id, vm, from, to } => {
                world.start_migration(id, &vm, &from, &to)?
            }
            Action::AbortMigration { id, vm, from, to } => {
                world.abort_migration(id, &vm, &from, &to)?
            }
            Action::Report(event) => world.report(event)?,
        }
    }
    Ok(())
}
