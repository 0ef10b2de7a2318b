% A multi-channel 2-D convolution, stride 2, "valid" output range inferred
% from the reads (with floor division for the stride).
% test-sizes: C=2, K=2, H=7, W=6
input y_{c,p,q}, 0 \le c < C, 0 \le p < H, 0 \le q < W
param w_{k,c,a,b}, 0 \le k < K, 0 \le c < C, 0 \le a < 3, 0 \le b < 3
x_{k,i,j} = \sum_{c,a,b} w_{k,c,a,b} y_{c,2i+a,2j+b}
