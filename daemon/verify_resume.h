/* daemon/verify_resume.h: `birdied verify-resume`: proves on a given config that a run killed at a
 * step and resumed from its checkpoint ends exactly where the same run without the kill ends. */
#ifndef BIRDIE_VERIFY_RESUME_H
#define BIRDIE_VERIFY_RESUME_H

/* argv[0] is "verify-resume". Returns the process exit code: 0 identical, 1 a difference (each named
 * on stdout), 2 usage, or the exit class of a run that failed where it should not have. */
int birdie_verify_resume_main(int argc, char **argv);

#endif
