// Note [A good note]
// ~~~~~~~~~~~~~~~~~~
// Says what the rule is
// and why.

// Relies on it: see Note [A good note].
