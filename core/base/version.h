// The version of simmimd, recorded in checkpoints and reported by the API.
#ifndef SIMMIM_VERSION_H
#define SIMMIM_VERSION_H
#define SIMMIMD_VERSION "0.1.0"
#endif
