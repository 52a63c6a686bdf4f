//! The coordination desk (issue 17.2): meetings drawn from the picture. `agenda` drafts an
//! agenda from the picture and the log; `view` shows a meeting to one reader through the
//! policy; `minutes` writes the minutes (HTML, English and Arabic) from that view; `input`
//! reads and checks the request bodies; `task` raises overdue action alerts through the
//! writer. What is stored and how events fold lives in `log::meeting`, who may do what in
//! `policy::meetings`, the write path in `writer::meeting`.

pub mod agenda;
pub mod input;
pub mod minutes;
pub mod task;
pub mod view;
