#ifndef TRAINYARD_CSQLITE_SHIM_H
#define TRAINYARD_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif
