% 2x2 max pooling with stride 2 after a ReLU; the adjoint goes to the first
% maximal element in row-major order of (a, b).
% test-sizes: C=2, H=5, W=6
input x_{c,p,q}, 0 \le c < C, 0 \le p < H, 0 \le q < W
r_{c,p,q} = \operatorname{relu}(x_{c,p,q})
y_{c,i,j} = \max_{0 \le a < 2, 0 \le b < 2} r_{c,2i+a,2j+b}
