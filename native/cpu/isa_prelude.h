// Included first by each kernels_<isa>.cc, before its target pragma: every standard and project header the
// kernels use is parsed here with the baseline ISA, so inline functions that the linker may share between
// translation units (std::fill, AlignedBuffer::resize, ...) never get an AVX-512 body that a CPU without it
// could end up calling.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <type_traits>
#include <vector>
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

#include "../core/aligned.h"
#include "../core/cpu_features.h"
#include "../core/thread_pool.h"
#include "kernels.h"
