#ifndef TRAINYARD_CZLIB_SHIM_H
#define TRAINYARD_CZLIB_SHIM_H
// zlib's crc32 (the CRC-32 of S3's x-amz-checksum-crc32: ISO-HDLC, reflected 0xEDB88320).
#include <zlib.h>
#endif
