% Weights stored taps first (w[a, b, k, c]): under --gemm the weight
% gradient is a Winograd call whose filter view has the taps' strides
% largest, and which splits its images across threads itself (its target's
% first index is a tap, which a split of the target would cut apart).
input y_{n,c,p,q}, 0 \le n < N, 0 \le c < C, 0 \le p < H, 0 \le q < W
param w_{a,b,k,c}, 0 \le a < 3, 0 \le b < 3, 0 \le k < K, 0 \le c < C
x_{n,k,i,j} = \sum_{c,a,b} w_{a,b,k,c} y_{n,c,i+a-1,j+b-1}, 0 \le n < N, 0 \le k < K, 0 \le i < H, 0 \le j < W
output x
