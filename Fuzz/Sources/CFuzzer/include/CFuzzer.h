#ifndef VIPSEC_CFUZZER_H
#define VIPSEC_CFUZZER_H
#include <stddef.h>
#include <stdint.h>
/* libFuzzer's driver, for targets that bring their own main (SwiftPM executables do). */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
#endif
