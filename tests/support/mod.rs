pub(crate) mod lan;
pub(crate) mod tmux;
