/* The faces renderer's arithmetic (lit_gen/data/faces/raster.py and renderer.py): projection, shapes, vertex
 * normals, the rasterizer and the Lambert + ambient shading, loaded by kernel.py.
 *
 * Each does, in float32, the same operations in the same order as the torch code (built with -ffp-contract=off,
 * so no multiply-add is fused): the rasterizer gives the same triangles and weights bit for bit, the images agree
 * to 1e-6 (torch's float32 sqrt is not correctly rounded); tests/test_faces.py compares them. The torch code does
 * each step over every (image, triangle) at once, ~60 passes over 10^5-entry arrays per batch; here a triangle
 * that covers no pixel centre costs its box and nothing else.
 *
 * Conventions as in raster.py: x to the right, y down, in pixels; pixel (i, j) has its centre at
 * (j + 0.5, i + 0.5); smaller depth is nearer; the nearest fragment wins, a tie goes to the higher triangle.
 */
#include <math.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define EDGE_EPS 1e-6f

static inline float min3(float a, float b, float c) { float m = a < b ? a : b; return m < c ? m : c; }
static inline float max3(float a, float b, float c) { float m = a > b ? a : b; return m > c ? m : c; }

/* ceilf and floorf are library calls on baseline x86-64 (no SSE4.1 rounding); through an int they are a few
 * instructions. The argument is first clamped to +-2^22: that changes no box that holds a pixel centre (a larger
 * value is clipped to the image edge or leaves the box empty either way). */
#define BIG 4194304.0f
static inline float clampbig(float v) { return v < -BIG ? -BIG : (v > BIG ? BIG : v); }
static inline float ceil_(float v)
{
    v = clampbig(v);
    const float f = (float)(int32_t)v;
    return f < v ? f + 1.0f : f;
}
static inline float floor_(float v)
{
    v = clampbig(v);
    const float f = (float)(int32_t)v;
    return f > v ? f - 1.0f : f;
}

/* renderer.py's projection: each view's face (vface) turned by its rotation rot (views, 3, 3) and put on the
 * screen, as torch computes it: x' = (r0 x + r1 y) + r2 z, screen (half + scale x', half - scale y', -z'). */
void lit_gen_project(int64_t views, int64_t V, const float *restrict verts, const int64_t *restrict vface,
                     const float *restrict rot, float half, float scale, float *restrict screen)
{
    for (int64_t v = 0; v < views; ++v) {
        const float *restrict p = verts + vface[v] * V * 3;
        const float *r = rot + 9 * v;
        const float r0 = r[0], r1 = r[1], r2 = r[2], r3 = r[3], r4 = r[4], r5 = r[5], r6 = r[6], r7 = r[7], r8 = r[8];
        float *restrict out = screen + v * V * 3;
        for (int64_t i = 0; i < V; ++i) {
            const float x = p[3 * i], y = p[3 * i + 1], z = p[3 * i + 2];
            out[3 * i] = half + scale * ((r0 * x + r1 * y) + r2 * z);
            out[3 * i + 1] = half - scale * ((r3 * x + r4 * y) + r5 * z);
            out[3 * i + 2] = -((r6 * x + r7 * y) + r8 * z);
        }
    }
}

/* Per triangle (corners X, Y, Z): the box of pixel centres (first centre x0, y0; counts nx, ny) and what to
 * draw: code 0 nothing (no centre in the box, or no area), 1 a one-centre box whose centre is inside (weights
 * w0, w1, w2 and depth d given), 2 a larger box (drawn centre by centre). At 32-128 px most of a face mesh's
 * triangles are smaller than a pixel, so codes 0 and 1 are most of them, and this pass does their work. */
struct tris_soa {
    float *X0, *X1, *X2, *Y0, *Y1, *Y2, *Z0, *Z1, *Z2, *bx, *by, *bnx, *bny, *w0, *w1, *w2, *d;
    int32_t *code;
};

/* the scalar form of one triangle of boxes() (the SSE2 form below computes the same, four at a time) */
static inline void box1(int64_t t, float wmax, float hmax, const struct tris_soa *q)
{
    const float X0 = q->X0[t], X1 = q->X1[t], X2 = q->X2[t], Y0 = q->Y0[t], Y1 = q->Y1[t], Y2 = q->Y2[t];
    float x0 = ceil_(min3(X0, X1, X2) - 0.5f), y0 = ceil_(min3(Y0, Y1, Y2) - 0.5f);
    x0 = x0 < 0.0f ? 0.0f : x0;
    y0 = y0 < 0.0f ? 0.0f : y0;
    float xe = floor_(max3(X0, X1, X2) - 0.5f), ye = floor_(max3(Y0, Y1, Y2) - 0.5f);
    xe = xe > wmax ? wmax : xe;
    ye = ye > hmax ? hmax : ye;
    const float A = (X1 - X0) * (Y2 - Y0) - (X2 - X0) * (Y1 - Y0);
    const float nx = xe - x0 + 1.0f, ny = ye - y0 + 1.0f;
    const float px = x0 + 0.5f, py = y0 + 0.5f;
    const float w0 = ((X2 - X1) * (py - Y1) - (Y2 - Y1) * (px - X1)) / A;
    const float w1 = ((X0 - X2) * (py - Y2) - (Y0 - Y2) * (px - X2)) / A;
    const float w2 = (1.0f - w0) - w1;
    q->bx[t] = x0, q->by[t] = y0, q->bnx[t] = nx, q->bny[t] = ny;
    q->w0[t] = w0, q->w1[t] = w1, q->w2[t] = w2;
    q->d[t] = (w0 * q->Z0[t] + w1 * q->Z1[t]) + w2 * q->Z2[t];
    const int32_t ok = (nx > 0.0f) & (ny > 0.0f) & (fabsf(A) > 1e-12f);
    const int32_t single = (nx == 1.0f) & (ny == 1.0f);
    const int32_t inside = (w0 >= -EDGE_EPS) & (w1 >= -EDGE_EPS) & (w2 >= -EDGE_EPS);
    q->code[t] = ok * (single ? inside : 2);
}

#ifdef __SSE2__
/* ceil_ and floor_, four at a time */
static inline __m128 trunc4(__m128 v, __m128 *clamped)
{
    *clamped = _mm_min_ps(_mm_set1_ps(BIG), _mm_max_ps(_mm_set1_ps(-BIG), v));
    return _mm_cvtepi32_ps(_mm_cvttps_epi32(*clamped));
}
static inline __m128 ceil4(__m128 v)
{
    const __m128 f = trunc4(v, &v);
    return _mm_add_ps(f, _mm_and_ps(_mm_cmplt_ps(f, v), _mm_set1_ps(1.0f)));
}
static inline __m128 floor4(__m128 v)
{
    const __m128 f = trunc4(v, &v);
    return _mm_sub_ps(f, _mm_and_ps(_mm_cmpgt_ps(f, v), _mm_set1_ps(1.0f)));
}
#endif

static void boxes(int64_t T, float wmax, float hmax, const struct tris_soa *q)
{
    int64_t t = 0;
#ifdef __SSE2__
    /* each intrinsic is box1's line: _mm_min_ps(a, b) is a < b ? a : b and _mm_max_ps(a, b) is a > b ? a : b,
     * so the results are the same (the compiler does not vectorise box1 itself: it keeps branches there) */
    const __m128 half = _mm_set1_ps(0.5f), one = _mm_set1_ps(1.0f), zero = _mm_setzero_ps();
    const __m128 wm = _mm_set1_ps(wmax), hm = _mm_set1_ps(hmax);
    const __m128 tiny = _mm_set1_ps(1e-12f), absmask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
    const __m128 neps = _mm_set1_ps(-EDGE_EPS);
    const __m128i one_i = _mm_set1_epi32(1), two_i = _mm_set1_epi32(2);
    for (; t + 4 <= T; t += 4) {
        const __m128 X0 = _mm_loadu_ps(q->X0 + t), X1 = _mm_loadu_ps(q->X1 + t), X2 = _mm_loadu_ps(q->X2 + t);
        const __m128 Y0 = _mm_loadu_ps(q->Y0 + t), Y1 = _mm_loadu_ps(q->Y1 + t), Y2 = _mm_loadu_ps(q->Y2 + t);
        const __m128 x0 = _mm_max_ps(zero, ceil4(_mm_sub_ps(_mm_min_ps(_mm_min_ps(X0, X1), X2), half)));
        const __m128 y0 = _mm_max_ps(zero, ceil4(_mm_sub_ps(_mm_min_ps(_mm_min_ps(Y0, Y1), Y2), half)));
        const __m128 xe = _mm_min_ps(wm, floor4(_mm_sub_ps(_mm_max_ps(_mm_max_ps(X0, X1), X2), half)));
        const __m128 ye = _mm_min_ps(hm, floor4(_mm_sub_ps(_mm_max_ps(_mm_max_ps(Y0, Y1), Y2), half)));
        const __m128 A = _mm_sub_ps(_mm_mul_ps(_mm_sub_ps(X1, X0), _mm_sub_ps(Y2, Y0)),
                                    _mm_mul_ps(_mm_sub_ps(X2, X0), _mm_sub_ps(Y1, Y0)));
        const __m128 nx = _mm_add_ps(_mm_sub_ps(xe, x0), one), ny = _mm_add_ps(_mm_sub_ps(ye, y0), one);
        const __m128 px = _mm_add_ps(x0, half), py = _mm_add_ps(y0, half);
        const __m128 w0 = _mm_div_ps(_mm_sub_ps(_mm_mul_ps(_mm_sub_ps(X2, X1), _mm_sub_ps(py, Y1)),
                                                _mm_mul_ps(_mm_sub_ps(Y2, Y1), _mm_sub_ps(px, X1))), A);
        const __m128 w1 = _mm_div_ps(_mm_sub_ps(_mm_mul_ps(_mm_sub_ps(X0, X2), _mm_sub_ps(py, Y2)),
                                                _mm_mul_ps(_mm_sub_ps(Y0, Y2), _mm_sub_ps(px, X2))), A);
        const __m128 w2 = _mm_sub_ps(_mm_sub_ps(one, w0), w1);
        const __m128 d = _mm_add_ps(_mm_add_ps(_mm_mul_ps(w0, _mm_loadu_ps(q->Z0 + t)),
                                               _mm_mul_ps(w1, _mm_loadu_ps(q->Z1 + t))),
                                    _mm_mul_ps(w2, _mm_loadu_ps(q->Z2 + t)));
        _mm_storeu_ps(q->bx + t, x0);
        _mm_storeu_ps(q->by + t, y0);
        _mm_storeu_ps(q->bnx + t, nx);
        _mm_storeu_ps(q->bny + t, ny);
        _mm_storeu_ps(q->w0 + t, w0);
        _mm_storeu_ps(q->w1 + t, w1);
        _mm_storeu_ps(q->w2 + t, w2);
        _mm_storeu_ps(q->d + t, d);
        const __m128i ok = _mm_castps_si128(_mm_and_ps(_mm_and_ps(_mm_cmpgt_ps(nx, zero), _mm_cmpgt_ps(ny, zero)),
                                                       _mm_cmpgt_ps(_mm_and_ps(A, absmask), tiny)));
        const __m128i single = _mm_castps_si128(_mm_and_ps(_mm_cmpeq_ps(nx, one), _mm_cmpeq_ps(ny, one)));
        const __m128i inside = _mm_castps_si128(_mm_and_ps(_mm_and_ps(_mm_cmpge_ps(w0, neps), _mm_cmpge_ps(w1, neps)),
                                                           _mm_cmpge_ps(w2, neps)));
        /* ok * (single ? inside : 2) */
        const __m128i what = _mm_or_si128(_mm_and_si128(single, _mm_and_si128(inside, one_i)),
                                          _mm_andnot_si128(single, two_i));
        _mm_storeu_si128((__m128i *)(q->code + t), _mm_and_si128(ok, what));
    }
#endif
    for (; t < T; ++t) box1(t, wmax, hmax, q);
}

static inline void fragment(int64_t p, int64_t t, float w0, float w1, float w2, float depth, float *zbuf,
                            int64_t *tri_b, float *w0_b, float *w1_b, float *w2_b)
{
    if (depth <= zbuf[p]) {
        zbuf[p] = depth;
        tri_b[p] = t;
        w0_b[p] = w0;
        w1_b[p] = w1;
        w2_b[p] = w2;
    }
}

/* screen: (B, V, 3) x, y, depth; tris: (T, 3); tri_out: (B, H, W), -1 on the background;
 * bary_out: (3, B, H, W), 0 on the background; scratch: H * W + 19 * T floats.
 * Fragments are tested in triangle order, so on equal depth the higher triangle wins, as in raster.py. */
void lit_gen_rasterize(int64_t B, int64_t V, int64_t T, int64_t H, int64_t W, const float *screen,
                       const int64_t *tris, int64_t *tri_out, float *bary_out, float *scratch)
{
    const int64_t plane = B * H * W;
    float *zbuf = scratch, *arr = scratch + H * W;
    struct tris_soa q;
    float **fields[] = {&q.X0, &q.X1, &q.X2, &q.Y0, &q.Y1, &q.Y2, &q.Z0, &q.Z1, &q.Z2,
                        &q.bx, &q.by, &q.bnx, &q.bny, &q.w0, &q.w1, &q.w2, &q.d};
    for (int i = 0; i < 17; ++i) *fields[i] = arr + i * T;
    q.code = (int32_t *)(arr + 17 * T);
    int32_t *list = q.code + T;
    for (int64_t b = 0; b < B; ++b) {
        const float *s = screen + b * V * 3;
        int64_t *tri_b = tri_out + b * H * W;
        float *w0_b = bary_out + b * H * W, *w1_b = w0_b + plane, *w2_b = w1_b + plane;
        for (int64_t p = 0; p < H * W; ++p) {
            zbuf[p] = INFINITY;
            tri_b[p] = -1;
            w0_b[p] = w1_b[p] = w2_b[p] = 0.0f;
        }
        for (int64_t t = 0; t < T; ++t) {
            const float *c0 = s + 3 * tris[3 * t], *c1 = s + 3 * tris[3 * t + 1], *c2 = s + 3 * tris[3 * t + 2];
            q.X0[t] = c0[0], q.X1[t] = c1[0], q.X2[t] = c2[0];
            q.Y0[t] = c0[1], q.Y1[t] = c1[1], q.Y2[t] = c2[1];
            q.Z0[t] = c0[2], q.Z1[t] = c1[2], q.Z2[t] = c2[2];
        }
        boxes(T, (float)(W - 1), (float)(H - 1), &q);
        int64_t n = 0;
        for (int64_t t = 0; t < T; ++t) {
            list[n] = (int32_t)t;
            n += q.code[t] != 0;
        }
        for (int64_t k = 0; k < n; ++k) {
            const int64_t t = list[k];
            const float x0 = q.bx[t], y0 = q.by[t];
            const int64_t ix0 = (int64_t)x0, iy0 = (int64_t)y0;
            if (q.code[t] == 1) {
                fragment(iy0 * W + ix0, t, q.w0[t], q.w1[t], q.w2[t], q.d[t], zbuf, tri_b, w0_b, w1_b, w2_b);
                continue;
            }
            const float X0 = q.X0[t], X1 = q.X1[t], X2 = q.X2[t], Y0 = q.Y0[t], Y1 = q.Y1[t], Y2 = q.Y2[t];
            const float A = (X1 - X0) * (Y2 - Y0) - (X2 - X0) * (Y1 - Y0);
            const int64_t inx = (int64_t)q.bnx[t], iny = (int64_t)q.bny[t];
#ifdef __SSE2__
            if (inx <= 2 && iny <= 2) {
                /* the (up to) 2 x 2 centres at once, lanes (dx, dy) = (0, 0), (1, 0), (0, 1), (1, 1): the
                 * scalar loop's operations below, four at a time */
                const __m128 px = _mm_add_ps(_mm_add_ps(_mm_set1_ps(x0), _mm_setr_ps(0.0f, 1.0f, 0.0f, 1.0f)),
                                             _mm_set1_ps(0.5f));
                const __m128 py = _mm_add_ps(_mm_add_ps(_mm_set1_ps(y0), _mm_setr_ps(0.0f, 0.0f, 1.0f, 1.0f)),
                                             _mm_set1_ps(0.5f));
                const __m128 vA = _mm_set1_ps(A);
                const __m128 w0 = _mm_div_ps(_mm_sub_ps(_mm_mul_ps(_mm_set1_ps(X2 - X1), _mm_sub_ps(py, _mm_set1_ps(Y1))),
                                                        _mm_mul_ps(_mm_set1_ps(Y2 - Y1), _mm_sub_ps(px, _mm_set1_ps(X1)))), vA);
                const __m128 w1 = _mm_div_ps(_mm_sub_ps(_mm_mul_ps(_mm_set1_ps(X0 - X2), _mm_sub_ps(py, _mm_set1_ps(Y2))),
                                                        _mm_mul_ps(_mm_set1_ps(Y0 - Y2), _mm_sub_ps(px, _mm_set1_ps(X2)))), vA);
                const __m128 w2 = _mm_sub_ps(_mm_sub_ps(_mm_set1_ps(1.0f), w0), w1);
                const __m128 d = _mm_add_ps(_mm_add_ps(_mm_mul_ps(w0, _mm_set1_ps(q.Z0[t])), _mm_mul_ps(w1, _mm_set1_ps(q.Z1[t]))),
                                            _mm_mul_ps(w2, _mm_set1_ps(q.Z2[t])));
                const __m128 neps = _mm_set1_ps(-EDGE_EPS);
                int in = _mm_movemask_ps(_mm_and_ps(_mm_and_ps(_mm_cmpge_ps(w0, neps), _mm_cmpge_ps(w1, neps)),
                                                    _mm_cmpge_ps(w2, neps)));
                in &= (inx == 2 ? 0xF : 0x5) & (iny == 2 ? 0xF : 0x3);  /* the lanes inside the box */
                if (in) {
                    float a0[4], a1[4], a2[4], ad[4];
                    _mm_storeu_ps(a0, w0), _mm_storeu_ps(a1, w1), _mm_storeu_ps(a2, w2), _mm_storeu_ps(ad, d);
                    for (int l = 0; l < 4; ++l)
                        if (in & (1 << l))
                            fragment((iy0 + (l >> 1)) * W + ix0 + (l & 1), t, a0[l], a1[l], a2[l], ad[l], zbuf, tri_b,
                                     w0_b, w1_b, w2_b);
                }
                continue;
            }
#endif
            for (int64_t dy = 0; dy < iny; ++dy) {
                const float py = (y0 + (float)dy) + 0.5f;
                for (int64_t dx = 0; dx < inx; ++dx) {
                    const float px = (x0 + (float)dx) + 0.5f;
                    /* w_i: the doubled area opposite corner i over the triangle's, the barycentric weights */
                    const float w0 = ((X2 - X1) * (py - Y1) - (Y2 - Y1) * (px - X1)) / A;
                    const float w1 = ((X0 - X2) * (py - Y2) - (Y0 - Y2) * (px - X2)) / A;
                    const float w2 = (1.0f - w0) - w1;
                    if (!(w0 >= -EDGE_EPS && w1 >= -EDGE_EPS && w2 >= -EDGE_EPS)) continue;
                    const float depth = (w0 * q.Z0[t] + w1 * q.Z1[t]) + w2 * q.Z2[t];
                    fragment((iy0 + dy) * W + ix0 + dx, t, w0, w1, w2, depth, zbuf, tri_b, w0_b, w1_b, w2_b);
                }
            }
        }
    }
}

/* renderer.py's face shapes: out (F, D) = mean (D) + coeffs (F, K) @ basis (K, D), each face on its own and
 * summed over k in order (so a face does not depend on the others in its batch). In blocks of the basis's
 * columns that stay in the cache while every face of the batch uses them. */
void lit_gen_shapes(int64_t F, int64_t K, int64_t D, const float *restrict mean, const float *restrict coeffs,
                    const float *restrict basis, float *restrict out)
{
    const int64_t block = 2048;
    for (int64_t i0 = 0; i0 < D; i0 += block) {
        const int64_t i1 = i0 + block < D ? i0 + block : D;
        for (int64_t f = 0; f < F; ++f) {
            float *restrict o = out + f * D;
            const float *c = coeffs + f * K;
            for (int64_t i = i0; i < i1; ++i) o[i] = 0.0f;
            for (int64_t k = 0; k < K; ++k) {
                const float ck = c[k], *restrict row = basis + k * D;
                for (int64_t i = i0; i < i1; ++i) o[i] += ck * row[i];
            }
            for (int64_t i = i0; i < i1; ++i) o[i] = mean[i] + o[i];
        }
    }
}

/* renderer.py's vertex normals: verts (F, V, 3); out (3, F, V), the unit area-weighted mean of the adjacent
 * triangles' normals. A vertex's triangles come from adj_start (V + 1) and adj_tri, in index_add_'s order
 * (those where it is corner 0, ascending, then corner 1, then corner 2), so the sums are torch's: gathered per
 * vertex rather than scattered per triangle. scratch: 3 * T floats. */
void lit_gen_vertex_normals(int64_t F, int64_t V, int64_t T, const float *restrict verts,
                            const int64_t *restrict tris, const int64_t *restrict adj_start,
                            const int32_t *restrict adj_tri, float *restrict out, float *restrict scratch)
{
    const int64_t plane = F * V;
    float *restrict fx = scratch, *restrict fy = fx + T, *restrict fz = fy + T;
    for (int64_t f = 0; f < F; ++f) {
        const float *restrict v = verts + f * V * 3;
        float *restrict nx = out + f * V, *restrict ny = nx + plane, *restrict nz = ny + plane;
        for (int64_t t = 0; t < T; ++t) {
            const float *a = v + 3 * tris[3 * t], *b = v + 3 * tris[3 * t + 1], *c = v + 3 * tris[3 * t + 2];
            const float e1x = b[0] - a[0], e1y = b[1] - a[1], e1z = b[2] - a[2];
            const float e2x = c[0] - a[0], e2y = c[1] - a[1], e2z = c[2] - a[2];
            fx[t] = e1y * e2z - e1z * e2y;
            fy[t] = e1z * e2x - e1x * e2z;
            fz[t] = e1x * e2y - e1y * e2x;
        }
        for (int64_t i = 0; i < V; ++i) {
            float x = 0.0f, y = 0.0f, z = 0.0f;
            for (int64_t e = adj_start[i]; e < adj_start[i + 1]; ++e) {
                const int32_t t = adj_tri[e];
                x += fx[t];
                y += fy[t];
                z += fz[t];
            }
            const float len = sqrtf((x * x + y * y) + z * z);
            const float inv = 1.0f / (len < 1e-12f ? 1e-12f : len);
            nx[i] = x * inv;
            ny[i] = y * inv;
            nz[i] = z * inv;
        }
    }
}

/* renderer.py's Lambert + ambient shading, without the specular term.
 * tri (views, H, W) and bary (3, views, H, W) from lit_gen_rasterize; normals (3, F, V) unit vertex normals;
 * vface (views) the face of each view; toward (views, 3) the viewer's direction in the face's frame;
 * view_of (N) the view of each image; light (N, 3) its light direction in the face's frame; albedo (C);
 * scratch: 3 * views * H * W floats (each view's normal map). images (N, C, H, W), masks (N, H, W). */
void lit_gen_shade(int64_t views, int64_t N, int64_t C, int64_t H, int64_t W, int64_t F, int64_t V,
                   const int64_t *restrict tris, const int64_t *restrict tri, const float *restrict bary,
                   const float *restrict normals, const int64_t *restrict vface, const float *restrict toward,
                   const int64_t *restrict view_of, const float *restrict light, const float *restrict albedo,
                   float ambient, float diffuse, float *restrict images, float *restrict masks,
                   float *restrict scratch)
{
    const int64_t P = H * W, plane = views * P, nplane = F * V;
    for (int64_t v = 0; v < views; ++v) {
        const float *nx_u = normals + vface[v] * V, *ny_u = nx_u + nplane, *nz_u = ny_u + nplane;
        const float tx = toward[3 * v], ty = toward[3 * v + 1], tz = toward[3 * v + 2];
        float *mx = scratch + 3 * v * P, *my = mx + P, *mz = my + P;
        for (int64_t p = 0; p < P; ++p) {
            const int64_t t = tri[v * P + p];
            if (t < 0) {
                mx[p] = my[p] = mz[p] = 0.0f;
                continue;
            }
            const float w0 = bary[v * P + p], w1 = bary[plane + v * P + p], w2 = bary[2 * plane + v * P + p];
            const int64_t a = tris[3 * t], b = tris[3 * t + 1], c = tris[3 * t + 2];
            const float x = (w0 * nx_u[a] + w1 * nx_u[b]) + w2 * nx_u[c];
            const float y = (w0 * ny_u[a] + w1 * ny_u[b]) + w2 * ny_u[c];
            const float z = (w0 * nz_u[a] + w1 * nz_u[b]) + w2 * nz_u[c];
            const float len = sqrtf((x * x + y * y) + z * z);
            float scale = 1.0f / (len < 1e-12f ? 1e-12f : len);
            /* two-sided: a back face is lit as seen */
            if ((x * tx + y * ty) + z * tz < 0.0f) scale = -scale;
            mx[p] = x * scale;
            my[p] = y * scale;
            mz[p] = z * scale;
        }
    }
    for (int64_t n = 0; n < N; ++n) {
        const int64_t v = view_of[n];
        const float *restrict mx = scratch + 3 * v * P, *restrict my = mx + P, *restrict mz = my + P;
        const int64_t *restrict tv = tri + v * P;
        const float lx = light[3 * n], ly = light[3 * n + 1], lz = light[3 * n + 2];
        float *restrict mask = masks + n * P;
        for (int64_t p = 0; p < P; ++p) mask[p] = tv[p] >= 0 ? 1.0f : 0.0f;
        for (int64_t ch = 0; ch < C; ++ch) {
            float *restrict img = images + (n * C + ch) * P;
            const float al = albedo[ch];
            int64_t p = 0;
#ifdef __SSE2__
            /* the scalar loop below, four pixels at a time: _mm_max_ps(0, d) is d < 0 ? 0 : d, and
             * _mm_min_ps(1, v) is v > 1 ? 1 : v */
            const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.0f);
            const __m128 vlx = _mm_set1_ps(lx), vly = _mm_set1_ps(ly), vlz = _mm_set1_ps(lz);
            const __m128 vamb = _mm_set1_ps(ambient), vdif = _mm_set1_ps(diffuse), val = _mm_set1_ps(al);
            for (; p + 4 <= P; p += 4) {
                __m128 d = _mm_add_ps(_mm_add_ps(_mm_mul_ps(_mm_loadu_ps(mx + p), vlx), _mm_mul_ps(_mm_loadu_ps(my + p), vly)),
                                      _mm_mul_ps(_mm_loadu_ps(mz + p), vlz));
                d = _mm_max_ps(zero, d);
                __m128 value = _mm_mul_ps(_mm_add_ps(vamb, _mm_mul_ps(vdif, d)), val);
                value = _mm_max_ps(zero, _mm_min_ps(one, value));
                _mm_storeu_ps(img + p, _mm_mul_ps(value, _mm_loadu_ps(mask + p)));
            }
#endif
            for (; p < P; ++p) {
                float d = (mx[p] * lx + my[p] * ly) + mz[p] * lz;
                d = d < 0.0f ? 0.0f : d;
                float value = (ambient + diffuse * d) * al;
                value = value < 0.0f ? 0.0f : (value > 1.0f ? 1.0f : value);
                img[p] = value * mask[p];
            }
        }
    }
}
