% A pool whose output is the input of another pool (2x2 then 2x1), and
% also read directly afterwards.
% test-sizes: C=2, H=9, W=9
input x_{c,p,q}, 0 \le c < C, 0 \le p < H, 0 \le q < W
y_{c,i,j} = \max_{0 \le a < 2, 0 \le b < 2} x_{c,2i+a,2j+b}
z_{c,i,j} = \max_{0 \le a < 2} x_{c,i,j} + 0 y_{c,i,j}
t_{c,i,j} = \max_{0 \le b < 2, 0 \le a < 2} y_{c,2i+a,2j+b}
k_{c,i,j} = t_{c,i,j} + y_{c,2i,2j} y_{c,2i+1,2j+1}
output k
