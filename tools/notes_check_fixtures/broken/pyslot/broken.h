// A file with every mistake notes_check must catch.  See Note [Missing].

// Note [Defined twice]
// ~~~~~~~~~~~~~~~~~~~~
// First definition, with two lines
// of prose.

// Note [Defined twice]
// ~~~~~~~~~~~~~~~~~~~~
// Second definition, with two lines
// of prose.  See Note [Defined twice].

// Note [Nobody cites me]
// ~~~~~~~~~~~~~~~~~~~~~~
// A Note with a body
// that nothing references.

// Note [Stub]
// ~~~~~~~~~~~
// TODO: expand.
// See Note [Stub].
