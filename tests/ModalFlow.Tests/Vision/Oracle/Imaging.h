/* Minimal stand-in for Pillow's Imaging.h: just enough for Resample.c (8-bit RGB path). */
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <stdint.h>
typedef uint8_t UINT8; typedef int32_t INT32; typedef uint32_t UINT32;
#define IMAGING_TYPE_UINT8 0
#define IMAGING_TYPE_INT32 1
#define IMAGING_TYPE_FLOAT32 2
#define IMAGING_TYPE_SPECIAL 3
#define IMAGING_TRANSFORM_NEAREST 0
#define IMAGING_TRANSFORM_BOX 4
#define IMAGING_TRANSFORM_BILINEAR 2
#define IMAGING_TRANSFORM_HAMMING 5
#define IMAGING_TRANSFORM_BICUBIC 3
#define IMAGING_TRANSFORM_LANCZOS 1
#define MAKE_UINT32(u0, u1, u2, u3) ((UINT32)(u0) | ((UINT32)(u1) << 8) | ((UINT32)(u2) << 16) | ((UINT32)(u3) << 24))
typedef struct ImagingMemoryInstance {
    char mode[8]; int type; int bands; int xsize; int ysize;
    UINT8 **image8; INT32 **image32; char **image; int pixelsize; int linesize;
} *Imaging;
typedef int ImagingSectionCookie;
static inline void ImagingSectionEnter(ImagingSectionCookie *c) { (void)c; }
static inline void ImagingSectionLeave(ImagingSectionCookie *c) { (void)c; }
static inline void *ImagingError_MemoryError(void) { return NULL; }
static inline void *ImagingError_ModeError(void) { return NULL; }
static inline void *ImagingError_ValueError(const char *m) { (void)m; return NULL; }
#define IMAGING_PIXEL_I(im, x, y) ((im)->image32[(y)][(x)])
#define IMAGING_PIXEL_F(im, x, y) (((float *)(im)->image32[y])[x])
Imaging ImagingNewDirty(const char *mode, int xsize, int ysize);
void ImagingDelete(Imaging im);
Imaging ImagingCopy(Imaging im);
