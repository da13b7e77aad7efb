// Beam-search results as Python objects, shared by the beam_search and seq2seq bindings.
#pragma once

#include <pybind11/pybind11.h>

#include <vector>

#include "seqcore/beam_search.h"

namespace seqcore {

// [[(tokens int64 ndarray, score, log_prob), ...] per batch item]
pybind11::list hypotheses_to_python(const std::vector<std::vector<Hypothesis>>& results);

}  // namespace seqcore
