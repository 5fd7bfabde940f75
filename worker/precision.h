/* worker/precision.h: resolves [train] precision (auto | fp32 | bf16) for the backend that
 * birdie_backend_choose picked, into the op table a run trains with (docs/design.md §7.3).
 *
 * On the CPU: fp32 is the twin itself; bf16 is the twin with oneDNN bf16 GEMMs and fails (exit class
 * BIRDIE_EXIT_BACKEND) where this build or this CPU has none; auto picks bf16 only where the CPU has
 * bf16 matrix instructions (where oneDNN would emulate them, fp32 is as fast and more accurate).
 * On CUDA: bf16 and auto keep the backend, whose GEMMs are bf16; fp32 is the CUDA table with fp32
 * GEMMs (any other device table refuses it, exit class BIRDIE_EXIT_BACKEND). This file does not
 * choose the backend itself. */
#ifndef BIRDIE_PRECISION_H
#define BIRDIE_PRECISION_H

#include <stddef.h>

#include "kernels/ops.h"

/* Writes the table into *chosen and one line for the progress header (the precision, and on the CPU
 * what oneDNN dispatches to, or why auto fell back to fp32) into note. Returns 0, or a negative code
 * tagged BIRDIE_EXIT_BACKEND (an unsupported request) or BIRDIE_EXIT_USAGE (an unknown one). */
int birdie_precision_choose(const char *request, const birdie_ops *backend, const birdie_ops **chosen, char *note,
                            size_t notelen, char *err, size_t errlen);

#endif
