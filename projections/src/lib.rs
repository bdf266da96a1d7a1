//! Read side of teacher-cert: the ordered event feed, the exactly-once projector runtime,
//! and the read models front ends query ("my submissions" and the clerks' work queues).

pub mod feed;
pub mod live;
pub mod projector;
pub mod rebuild;
pub mod status;
pub mod store;
pub mod views;

pub use feed::{FeedError, FeedEvent, FeedPosition};
pub use projector::{
    catch_up, checkpoint, reset, run_once, spawn, Change, MySubmissionsProjector, Projector,
    ProjectorError, QueueChange, QueuesProjector, StepOutcome,
};
pub use rebuild::{rebuild, ReadModelReport, RebuildError, RebuildProgress, RebuildReport};
pub use store::{Page, StoreError};
pub use views::{QueueItem, QueueKind, ShipmentView, SubmissionView, TimelineStep};
