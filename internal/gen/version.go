package gen

// Version numbers the generator's output: the same Config gives the same
// lines for as long as Version stays the same. Change it with any change
// that alters the lines drawn for a Config (distributions, field values,
// order), so that corpora cached on disk under the old number are not
// taken for the new output.
const Version = 1
