package guest

// windowsPaths is set where local paths are Windows paths: a drive letter begins an absolute
// one, and a backslash separates elements as a slash does.
const windowsPaths = true
