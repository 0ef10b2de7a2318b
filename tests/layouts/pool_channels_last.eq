% Channel-last layout: the window in the middle dims, channel last
% (width 1 along the last index, four rows per window).
% test-sizes: N=2, H=6, W=7, C=3
input x_{n,p,q,c}, 0 \le n < N, 0 \le p < H, 0 \le q < W, 0 \le c < C
y_{n,i,j,c} = \max_{0 \le a < 2, 0 \le b < 2} x_{n,2i+a,2j+b,c}
output y
